#!/usr/bin/env python3
"""Turns the TSV files of one bench/run.sh run into Markdown tables with ratios."""
import csv
import sys
from pathlib import Path

out = Path(sys.argv[1])
EVENTS = 22  # 20 deltas + finish + [DONE]


def rows(name):
    with open(out / name) as f:
        return list(csv.DictReader(f, delimiter="\t"))


load = rows("load.tsv")
by = {(r["target"], r["mode"], r["conns"]): r for r in load}

for mode, title in (("json", "Non-streaming (4.6 KB request, ~1 KB JSON answer)"),
                    ("stream", "Streaming (22 SSE events back to back)")):
    print(f"\n## {title}\n")
    print("| target | conns | req/s | vs direct | p50 ms | p99 ms | added p50 ms | added p99 ms "
          "| CPU µs/req | CPU vs nginx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in load:
        if r["mode"] != mode:
            continue
        d = by.get(("direct", mode, r["conns"]))
        n = by.get(("nginx", mode, r["conns"]))
        rps = float(r["rps"])
        p50, p99 = int(r["p50_us"]) / 1000, int(r["p99_us"]) / 1000
        cpu = float(r["cpu_us_per_req"])
        vs = f"{rps / float(d['rps']):.3f}x" if d else "-"
        a50 = f"{p50 - int(d['p50_us']) / 1000:+.3f}" if d else "-"
        a99 = f"{p99 - int(d['p99_us']) / 1000:+.3f}" if d else "-"
        vn = f"{cpu / float(n['cpu_us_per_req']):.2f}x" if n and float(n["cpu_us_per_req"]) > 0 else "-"
        err = "" if r["errors"] == "0" and r["non2xx"] == "0" else f" (errors {r['errors']}, non-2xx {r['non2xx']})"
        print(f"| {r['target']}{err} | {r['conns']} | {rps:.0f} | {vs} | {p50:.3f} | {p99:.3f} | {a50} "
              f"| {a99} | {cpu:.1f} | {vn} |")

print("\n## CPU per SSE event (streaming minus non-streaming CPU per request, over 22 events)\n")
print("| target | conns | µs/event | vs nginx |")
print("|---|---:|---:|---:|")
for (t, mode, c), r in by.items():
    if mode != "stream" or (t, "json", c) not in by:
        continue
    ev = (float(r["cpu_us_per_req"]) - float(by[(t, "json", c)]["cpu_us_per_req"])) / EVENTS
    n = by.get(("nginx", "stream", c))
    nj = by.get(("nginx", "json", c))
    vn = "-"
    if n and nj:
        nev = (float(n["cpu_us_per_req"]) - float(nj["cpu_us_per_req"])) / EVENTS
        vn = f"{ev / nev:.2f}x" if nev > 0 else "-"
    print(f"| {t} | {c} | {ev:.2f} | {vn} |")

print("\n## Time to first byte of a paced stream (one event every 5 ms; 200 sequential requests)\n")
tt = rows("ttfb.tsv")
d = next((r for r in tt if r["target"] == "direct"), None)
print("| target | TTFB p50 ms | TTFB p99 ms | added p50 ms | total p50 ms |")
print("|---|---:|---:|---:|---:|")
for r in tt:
    add = f"{float(r['ttfb_p50_ms']) - float(d['ttfb_p50_ms']):+.3f}" if d else "-"
    print(f"| {r['target']} | {r['ttfb_p50_ms']} | {r['ttfb_p99_ms']} | {add} | {r['total_p50_ms']} |")

paced = rows("paced.tsv") if (out / "paced.tsv").exists() else []
if paced:
    print("\n## Paced streamed answers (one word every 33 ms, 20 words; sequential requests)\n")
    print("Time from the request to the first visible text (the first non-empty content delta) and "
          "to the last; `prose` is plain prose, `pii` holds an e-mail address and a card number "
          "(masked by Warden with inspection).\n")
    print("| target | answer | first p50 ms | first p99 ms | first p50 vs nginx ms | last p50 ms "
          "| last p99 ms | samples |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    base = {r["answer"]: r for r in paced if r["target"] == "nginx"}
    for r in paced:
        b = base.get(r["answer"])
        vs = f"{float(r['first_p50_ms']) - float(b['first_p50_ms']):+.1f}" if b else "-"
        print(f"| {r['target']} | {r['answer']} | {r['first_p50_ms']} | {r['first_p99_ms']} | {vs} "
              f"| {r['last_p50_ms']} | {r['last_p99_ms']} | {r['samples']} |")

print("\n## Resident memory\n")
print("| target | RSS idle MiB | RSS with 1,000 open streams MiB |")
print("|---|---:|---:|")
with open(out / "rss.tsv") as f:
    next(f)
    for line in f:
        t, idle, busy = line.split("\t")[:3]
        print(f"| {t} | {int(idle) / 1024:.1f} | {int(busy) / 1024:.1f} |")
