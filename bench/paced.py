#!/usr/bin/env python3
"""Paced streamed answers as a chat client sees them: for N sequential requests on one keep-alive
connection, the time from sending the request to the first visible text (the first non-empty
content delta; the role event does not count) and to the last, p50 and p99 over the requests.
The timeline of the median request (time, text released) is written next to the figures.

usage: paced.py TARGET ANSWER URL BODY_FILE N TIMELINE_FILE [HEADER ...]
prints: TARGET ANSWER first_p50_ms first_p99_ms last_p50_ms last_p99_ms samples (tab-separated)
"""
import http.client
import json
import sys
import time
import urllib.parse


def one(conn, path, body, headers):
    t0 = time.monotonic()
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    if resp.status != 200:
        raise SystemExit(f"status {resp.status}: {resp.read()[:200]!r}")
    buf = b""
    timeline = []  # (ms since the request, text of one event)
    done = False
    while not done:
        chunk = resp.read1(65536)
        if not chunk:
            break
        now = (time.monotonic() - t0) * 1000
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            data = event.decode().removeprefix("data: ").strip()
            if data == "[DONE]":
                done = True
                continue
            for choice in json.loads(data).get("choices", []):
                text = (choice.get("delta") or {}).get("content")
                if text:
                    timeline.append((now, text))
    resp.read()
    return timeline


def main():
    target, answer, url, body_file, n, timeline_file = sys.argv[1:7]
    headers = {"Content-Type": "application/json"}
    for h in sys.argv[7:]:
        k, v = h.split(":", 1)
        headers[k.strip()] = v.strip()
    u = urllib.parse.urlsplit(url)
    body = open(body_file, "rb").read()
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    one(conn, u.path, body, headers)  # warm-up: connections to the upstream opened
    runs = [one(conn, u.path, body, headers) for _ in range(int(n))]
    runs = [r for r in runs if r]
    firsts = sorted(r[0][0] for r in runs)
    lasts = sorted(r[-1][0] for r in runs)

    def pct(v, p):
        return v[min(len(v) - 1, int(len(v) * p))]

    median = sorted(runs, key=lambda r: r[0][0])[len(runs) // 2]
    with open(timeline_file, "w") as f:
        for t, text in median:
            f.write(f"{t:8.1f} ms  {text!r}\n")
    print(f"{target}\t{answer}\t{pct(firsts, 0.5):.1f}\t{pct(firsts, 0.99):.1f}\t"
          f"{pct(lasts, 0.5):.1f}\t{pct(lasts, 0.99):.1f}\t{len(runs)}")


if __name__ == "__main__":
    main()
