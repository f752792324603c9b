#!/usr/bin/env python3
"""Independent verifier of a Warden audit chain (SQLite store), using only Python's standard library.

For each chain, records must be numbered 1, 2, 3 … without gaps; each must name the previous
record's hash; and hash = SHA-256(previous hash as 32 bytes ‖ record), where the record is the
stored canonical JSON text (UTF-8). The first chain link uses 32 zero bytes.
Usage: verify-audit-chain.py warden-audit.db     (exit 0: whole; 1: tampered; 2: unreadable)
"""
import hashlib
import sqlite3
import sys


def main(path):
    try:
        rows = sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute(
            "SELECT chain, seq, prev_hash, hash, record FROM audit ORDER BY chain, seq").fetchall()
    except sqlite3.Error as e:
        print(f"cannot read {path}: {e}")
        return 2
    state = {}
    for chain, seq, prev, digest, record in rows:
        expected_seq, expected_prev = state.get(chain, (1, "0" * 64))
        if seq != expected_seq:
            print(f"chain {chain}: record {expected_seq} missing or out of order (found {seq})")
            return 1
        if prev != expected_prev:
            print(f"chain {chain}: record {seq} does not link to record {seq - 1}")
            return 1
        if hashlib.sha256(bytes.fromhex(prev) + record.encode("utf-8")).hexdigest() != digest:
            print(f"chain {chain}: record {seq} does not match its hash")
            return 1
        state[chain] = (seq + 1, digest)
    for chain, (next_seq, _) in sorted(state.items()):
        print(f"chain {chain}: {next_seq - 1} records, whole")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
