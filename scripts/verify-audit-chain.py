#!/usr/bin/env python3
"""Independent verifier of a Warden audit trail (SQLite store), with Python's standard library
and the `openssl` command (Python has no Ed25519) — so nobody has to trust Warden's own verifier.

Chain: records of each chain are numbered 1, 2, 3 … without gaps; each names the previous
record's hash; hash = SHA-256(previous hash as 32 bytes ‖ record) with 32 zero bytes first.
Merkle tree (RFC 6962): leaf = SHA-256(0x00 ‖ record), node = SHA-256(0x01 ‖ left ‖ right).
Checkpoints (stored, and any given with --checkpoint: a witness's copy, the gateway's log, or a
saved answer of GET /audit/checkpoint with the countersigned copies it lists) must
carry a valid signature by a --pubkey key, match the records' chain hash and Merkle root at their
seq, and the store must reach each of them (else it was truncated).
Countersignatures: a witness that accepted a checkpoint signed its body with its own Ed25519 key;
the gateway keeps those copies (table audit_cosignature). They are checkpoints too (each holds
the body its witness signed, whatever became of the stored checkpoint since); given a witness's
public key (--witness-key), each of its countersignatures must hold and every chain must have at
least one (else they were removed): a rewrite re-signed with the gateway's own key is then caught
by the store's countersigned copies alone.

Compact records (v6): the attribute sets that repeat (the candidates' provenance, the principal's
attributes) are stored once in audit_attrs and referred to by SHA-256 of their JSON
("candidates_ref", "principal_ref"); each must be there and hash to its reference.

An archive (warden audit archive) verifies on its own: --archive FILE, its records from its start
to the checkpoint at its cut, both signed, and the countersignatures they carry.

Usage: verify-audit-chain.py DB [--pubkey PEM]... [--checkpoint FILE]... [--witness-key PEM]...
       verify-audit-chain.py --archive FILE [--pubkey PEM]... [--witness-key PEM]...
Exit 0: whole; 1: tampered; 2: unreadable.
"""
import argparse
import base64
import gzip
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile


def leaf_hash(record):
    return hashlib.sha256(b"\x00" + record).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


class Frontier:
    """The perfect subtrees of the leaves so far, largest first: [(level, index, hash)]."""

    def __init__(self, size=0, nodes=()):
        self.size, self.nodes = size, list(nodes)

    def append(self, leaf, completed=None):
        level, index, h = 0, self.size, leaf
        while self.nodes and self.nodes[-1][0] == level:
            h = node_hash(self.nodes.pop()[2], h)
            level, index = level + 1, index >> 1
            if completed:
                completed(level, index, h)
        self.nodes.append((level, index, h))
        self.size += 1

    def root(self):
        if not self.nodes:
            return hashlib.sha256(b"").digest()
        r = self.nodes[-1][2]
        for _, _, h in reversed(self.nodes[:-1]):
            r = node_hash(h, r)
        return r


def parse_frontier(text):
    out = []
    for item in text.split():
        level, index, h = item.split(":")
        out.append((int(level), int(index), bytes.fromhex(h)))
    return out


def fingerprint(pem_path):
    with open(pem_path) as f:
        der = base64.b64decode("".join(l for l in f.read().splitlines() if not l.startswith("-----")))
    return hashlib.sha256(der[-32:]).hexdigest()  # the raw key ends an Ed25519 SubjectPublicKeyInfo


def openssl_verify(pem_path, message, signature):
    with tempfile.TemporaryDirectory() as d:
        msg, sig = os.path.join(d, "msg"), os.path.join(d, "sig")
        open(msg, "wb").write(message)
        open(sig, "wb").write(signature)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem_path, "-rawin",
                            "-in", msg, "-sigfile", sig], capture_output=True)
        return r.returncode == 0


def checkpoint_of(outer):
    try:
        body = json.loads(outer["checkpoint"])
        return {"text": outer["checkpoint"], "sigs": outer["signatures"],
                "cosigs": outer.get("cosignatures", []), **body}
    except (ValueError, KeyError, TypeError):
        return None


def parse_checkpoint(line):
    line = line.strip()
    if line.startswith('{"audit_checkpoint":'):
        line = line[len('{"audit_checkpoint":'):-1]
    try:
        return checkpoint_of(json.loads(line))
    except ValueError:
        return None


def file_checkpoints(path):
    """A file's checkpoints: one a line (a witness's copy, the gateway's log), and the older
    countersigned copies GET /audit/checkpoint lists with the newest ("countersigned")."""
    out = []
    with open(path) as f:
        for line in f:
            cp = parse_checkpoint(line)
            if not cp:
                continue
            out.append((cp, path))
            older = json.loads(line).get("countersigned", [])
            out += [(c, path + ", countersigned") for c in map(checkpoint_of, older) if c]
    return out


def check_signature(cp, keys):
    """None when a given key signed it and every given key's signature holds; else why not."""
    trusted = 0
    for s in cp["sigs"]:
        if s["key"] in keys:
            if not openssl_verify(keys[s["key"]], cp["text"].encode(), base64.b64decode(s["sig"])):
                return "bad signature"
            trusted += 1
    return None if trusted else "signed by no given key"


def missing_set(record, attrs):
    """None when every attribute set the record refers to is stored and matches its hash."""
    try:
        rec = json.loads(record)
    except ValueError:
        return "not a valid record"
    for key in ("candidates_ref", "principal_ref"):
        ref = rec.get(key)
        if ref is None:
            continue
        body = attrs.get(ref)
        if body is None:
            return f"attribute set {ref[:16]} is missing"
        if hashlib.sha256(body.encode("utf-8")).hexdigest() != ref:
            return f"attribute set {ref[:16]} does not match its hash (modified)"
    return None


def check_witnesses(chain, checkpoints, witnesses, failures):
    """Countersignatures by the given witnesses: each must hold. Returns, per witness
    fingerprint, the newest seq it countersigned."""
    newest = {}
    for cp, src in checkpoints:
        for w in cp["cosigs"]:
            if w["key"] not in witnesses:
                continue
            if not openssl_verify(witnesses[w["key"]], cp["text"].encode(), base64.b64decode(w["sig"])):
                failures.append(f"chain {chain}: checkpoint at seq {cp['seq']} ({src}): "
                                f"bad countersignature by witness {w['key'][:16]}")
            else:
                newest[w["key"]] = max(newest.get(w["key"], 0), cp["seq"])
    return newest


def verify_archive(path, keys, witnesses):
    """An archive file (gzip'd JSON lines: a header, the start — the previous cut's checkpoint
    and Merkle frontier, if any —, the rows, the attribute sets they refer to, and the end: the
    checkpoint at the cut). Its records must lead from the start to the cut's hash and root,
    both checkpoints be signed by a --pubkey key and carry a countersignature by every
    --witness-key."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        print(f"cannot read {path}: {e}")
        return 2
    chain = next((line["archive"]["chain"] for line in lines if "archive" in line), "?")
    attrs = {line["attrs"]["hash"]: line["attrs"]["attrs"] for line in lines if "attrs" in line}
    failures = []
    tree, prev, start, end, broken = Frontier(), "0" * 64, None, None, False
    for line in lines:
        if "checkpoint" in line.get("start", {}):
            start = parse_checkpoint(line["start"]["checkpoint"])
            tree = Frontier(start["seq"], parse_frontier(line["start"]["frontier"]))
            prev = start["hash"]
            if tree.root().hex() != start["root"]:
                failures.append(f"chain {chain}: the archive's start does not hold")
                broken = True
        elif "row" in line and not broken:
            seq, digest, record = line["row"]["seq"], line["row"]["hash"], line["row"]["record"]
            why = None
            if seq != tree.size + 1:
                why = f"record {tree.size + 1} missing or out of order (found {seq})"
            elif line["row"]["prev_hash"] != prev:
                why = f"record {seq} does not link to record {seq - 1}"
            elif hashlib.sha256(bytes.fromhex(prev) + record.encode("utf-8")).hexdigest() != digest:
                why = f"record {seq} does not match its hash"
            elif missing_set(record, attrs):
                why = f"record {seq}: {missing_set(record, attrs)}"
            if why:
                failures.append(f"chain {chain}: {why}")
                broken = True
                continue
            tree.append(leaf_hash(record.encode("utf-8")))
            prev = digest
        elif "end" in line:
            end = parse_checkpoint(line["end"]["checkpoint"])
    if not broken and (not end or (end["seq"], end["hash"], end["root"]) != (tree.size, prev, tree.root().hex())):
        failures.append(f"chain {chain}: the records do not reach or match the checkpoint at the cut")
    ends = [(cp, what) for cp, what in ((start, "archive start"), (end, "archive cut")) if cp]
    for cp, what in ends:
        why = keys and check_signature(cp, keys)
        if why:
            failures.append(f"chain {chain}: checkpoint at seq {cp['seq']} ({what}): {why}")
    newest = check_witnesses(chain, ends, witnesses, failures)
    for fp in witnesses:
        if fp in newest:
            print(f"chain {chain}: countersigned by witness {fp[:16]} up to seq {newest[fp]}")
        else:
            failures.append(f"chain {chain}: no checkpoint countersigned by witness {fp[:16]} "
                            "(its countersignatures were removed, or it never accepted the cut)")
    if not failures:
        print(f"archive {path}: chain {chain}, records up to seq {end['seq']}, matching the checkpoint at the cut")
    if not keys:
        print("signatures not checked: give --pubkey")
    if any(cp["cosigs"] for cp, _ in ends) and not witnesses:
        print("countersignatures not checked: give --witness-key")
    for why in failures:
        print(why)
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db", nargs="?")
    ap.add_argument("--archive")
    ap.add_argument("--pubkey", action="append", default=[])
    ap.add_argument("--checkpoint", action="append", default=[])
    ap.add_argument("--witness-key", action="append", default=[])
    args = ap.parse_args()
    keys = {fingerprint(p): p for p in args.pubkey}
    witnesses = {fingerprint(p): p for p in args.witness_key}
    if args.archive:
        return verify_archive(args.archive, keys, witnesses)
    if not args.db or not os.path.exists(args.db):
        print(f"no audit store at {args.db}")
        return 2
    try:
        db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
        rows = db.execute("SELECT chain, seq, prev_hash, hash, record FROM audit ORDER BY chain, seq").fetchall()
        tables = {t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        stored = db.execute("SELECT checkpoint FROM audit_checkpoint").fetchall() if "audit_checkpoint" in tables else []
        anchors = db.execute("SELECT chain, checkpoint, frontier FROM audit_anchor").fetchall() if "audit_anchor" in tables else []
        cosigned = db.execute("SELECT checkpoint FROM audit_cosignature").fetchall() if "audit_cosignature" in tables else []
        attrs = dict(db.execute("SELECT hash, attrs FROM audit_attrs").fetchall()) if "audit_attrs" in tables else {}
    except sqlite3.Error as e:
        print(f"cannot read {args.db}: {e}")
        return 2
    cps = [(c, "store") for c in map(parse_checkpoint, (t for (t,) in stored)) if c]
    cps += [(c, "store, countersigned") for c in map(parse_checkpoint, (t for (t,) in cosigned)) if c]
    for path in args.checkpoint:
        cps += file_checkpoints(path)
    failures = []
    if keys:
        for cp, src in cps:
            why = check_signature(cp, keys)
            if why:
                failures.append(f"chain {cp['chain']}: checkpoint at seq {cp['seq']} ({src}): {why}")
    # Countersignatures by the given witnesses: each must hold; per chain, the newest one.
    witnessed = {}  # (chain, witness fingerprint) -> newest countersigned seq
    anchored = [(parse_checkpoint(t), "archive anchor") for _, t, _ in anchors]
    for chain in {cp["chain"] for cp, _ in cps + anchored if cp}:
        mine = [(cp, src) for cp, src in cps + anchored if cp and cp["chain"] == chain]
        for fp, seq in check_witnesses(chain, mine, witnesses, failures).items():
            witnessed[(chain, fp)] = seq
    chains = {cp["chain"] for cp, _ in cps} | {c for c, _, _ in anchors}  # those with checkpoints
    for fp in witnesses:
        if not chains:
            failures.append(f"no checkpoint countersigned by witness {fp[:16]}")
        for chain in sorted(chains):
            if (chain, fp) in witnessed:
                print(f"chain {chain}: countersigned by witness {fp[:16]} up to seq {witnessed[(chain, fp)]}")
            else:
                failures.append(f"chain {chain}: no checkpoint countersigned by witness {fp[:16]} "
                                "(its countersignatures were removed, or it never accepted one)")
    state = {}  # chain -> (frontier, previous hash)
    for chain, cp_text, frontier in anchors:
        cp = parse_checkpoint(cp_text)
        f = Frontier(cp["seq"], parse_frontier(frontier))
        if f.root().hex() != cp["root"] or (keys and check_signature(cp, keys)):
            failures.append(f"chain {chain}: the archive anchor does not hold")
        state[chain] = (f, cp["hash"])
    at = {}  # (chain, seq) -> checkpoints
    for cp, src in cps:
        at.setdefault((cp["chain"], cp["seq"]), []).append((cp, src))
    broken = set()
    for chain, seq, prev, digest, record in rows:
        if chain in broken:
            continue
        f, expected_prev = state.setdefault(chain, (Frontier(), "0" * 64))
        why = None
        if seq != f.size + 1:
            why = f"record {f.size + 1} missing or out of order (found {seq})"
        elif prev != expected_prev:
            why = f"record {seq} does not link to record {seq - 1}"
        elif hashlib.sha256(bytes.fromhex(prev) + record.encode("utf-8")).hexdigest() != digest:
            why = f"record {seq} does not match its hash"
        elif missing_set(record, attrs):
            why = f"record {seq}: {missing_set(record, attrs)}"
        else:
            f.append(leaf_hash(record.encode("utf-8")))
            for cp, src in at.get((chain, seq), []):
                if cp["hash"] != digest or cp["root"] != f.root().hex():
                    why = f"checkpoint at seq {seq} ({src}) does not match the records (rewritten)"
        if why:
            failures.append(f"chain {chain}: {why}")
            broken.add(chain)
            continue
        state[chain] = (f, digest)
    for cp, src in cps:
        chain = cp["chain"]
        last = state[chain][0].size if chain in state else 0
        if chain not in broken and cp["seq"] > last:
            failures.append(f"chain {chain}: truncated: the store ends at seq {last}, "
                            f"checkpoint at seq {cp['seq']} ({src})")
            broken.add(chain)
    for chain, (f, _) in sorted(state.items()):
        if chain not in broken:
            newest = max([cp["seq"] for cp, _ in cps if cp["chain"] == chain], default=0)
            print(f"chain {chain}: {f.size} records, whole; newest checkpoint at seq {newest}")
            if f.size > newest:
                print(f"chain {chain}: records {newest + 1}..{f.size} not covered by a checkpoint")
    if cps and not keys:
        print("signatures not checked: give --pubkey")
    if cosigned and not witnesses:
        print("countersignatures not checked: give --witness-key")
    for why in failures:
        print(why)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
