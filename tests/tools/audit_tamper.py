#!/usr/bin/env python3
"""What an insider with write access to a (copy of a) SQLite audit store would do — for tests.

  audit_tamper.py DB modify SEQ          change a record, nothing else
  audit_tamper.py DB delete SEQ          delete a record in the middle
  audit_tamper.py DB reorder SEQ         swap records SEQ and SEQ+1
  audit_tamper.py DB truncate SEQ        delete every record after SEQ, and their checkpoints
  audit_tamper.py DB delete-all          delete every record and checkpoint
  audit_tamper.py DB attrs               change the attribute sets compact records refer to
  audit_tamper.py DB rewrite SEQ [KEY [COSIGNED]]
                                         change a record, recompute every hash after it and the
                                         Merkle tree; with the gateway's private KEY also rewrite
                                         and re-sign every checkpoint (openssl pkeyutl); COSIGNED
                                         says what becomes of the witnesses' countersigned copies:
                                         keep (default: left as they are), resign (rewritten and
                                         re-signed too, the witness's signature kept: it cannot be
                                         forged) or drop (deleted)
  audit_tamper.py ARCHIVE archive-rewrite SEQ KEY [COSIGNED]
                                         the same inside an archive file (gzip'd lines): change
                                         record SEQ, recompute every hash after it and the cut's
                                         frontier, re-sign the checkpoint at the cut with KEY;
                                         COSIGNED: keep (the witnesses' countersignatures left as
                                         they are), drop (removed), or forge (re-made with KEY
                                         under each witness's fingerprint)
"""
import base64
import gzip
import hashlib
import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "verifier", os.path.join(here, "..", "..", "scripts", "verify-audit-chain.py"))
verifier = importlib.util.module_from_spec(spec)
spec.loader.exec_module(verifier)


def change(record):
    return record.replace('"status":200', '"status":500', 1) if '"status":200' in record else record + " "


def sign(key, message):
    with tempfile.TemporaryDirectory() as d:
        msg = os.path.join(d, "msg")
        open(msg, "wb").write(message)
        return subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", msg],
                              capture_output=True, check=True).stdout


def resign(key, text, at):
    outer = json.loads(text)
    body = json.loads(outer["checkpoint"])
    body["hash"], body["root"] = at[body["seq"]]
    new_body = json.dumps(body, separators=(",", ":"), sort_keys=True)
    sig = base64.b64encode(sign(key, new_body.encode())).decode()
    outer["checkpoint"], outer["signatures"] = new_body, [{"key": body["key"], "sig": sig}]
    return json.dumps(outer, separators=(",", ":"), sort_keys=True)


def rewrite(db, seq, key, cosigned="keep"):
    chain = db.execute("SELECT chain FROM audit WHERE seq = ?", (seq,)).fetchone()[0]
    rows = db.execute("SELECT seq, record FROM audit WHERE chain = ? ORDER BY seq", (chain,)).fetchall()
    f, prev, at = verifier.Frontier(), "0" * 64, {}
    nodes = []
    for s, record in rows:
        if s == seq:
            record = change(record)
        digest = hashlib.sha256(bytes.fromhex(prev) + record.encode()).hexdigest()
        db.execute("UPDATE audit SET prev_hash = ?, hash = ?, record = ? WHERE chain = ? AND seq = ?",
                   (prev, digest, record, chain, s))
        f.append(verifier.leaf_hash(record.encode()), lambda l, i, h: nodes.append((l, i, h)))
        at[s] = (digest, f.root().hex())
        prev = digest
    db.execute("DELETE FROM audit_tree WHERE chain = ?", (chain,))
    db.executemany("INSERT INTO audit_tree (chain, level, idx, hash) VALUES (?,?,?,?)",
                   [(chain, l, i, h.hex()) for l, i, h in nodes])
    if key:
        for s, text in db.execute("SELECT seq, checkpoint FROM audit_checkpoint WHERE chain = ?", (chain,)).fetchall():
            db.execute("UPDATE audit_checkpoint SET checkpoint = ? WHERE chain = ? AND seq = ?",
                       (resign(key, text, at), chain, s))
        if cosigned == "resign":
            for s, w, text in db.execute("SELECT seq, witness, checkpoint FROM audit_cosignature WHERE chain = ?",
                                         (chain,)).fetchall():
                db.execute("UPDATE audit_cosignature SET checkpoint = ? WHERE chain = ? AND seq = ? AND witness = ?",
                           (resign(key, text, at), chain, s, w))
        elif cosigned == "drop":
            db.execute("DELETE FROM audit_cosignature WHERE chain = ?", (chain,))


def archive_rewrite(path, seq, key, cosigned="keep"):
    with gzip.open(path, "rt", encoding="utf-8") as src:
        lines = [json.loads(l) for l in src if l.strip()]
    tree, prev, at = verifier.Frontier(), "0" * 64, {}
    for line in lines:
        start = line.get("start")
        if start and "checkpoint" in start:
            cp = verifier.parse_checkpoint(start["checkpoint"])
            tree = verifier.Frontier(cp["seq"], verifier.parse_frontier(start["frontier"]))
            prev = cp["hash"]
        row = line.get("row")
        if row:
            if row["seq"] == seq:
                row["record"] = change(row["record"])
            row["prev_hash"] = prev
            row["hash"] = prev = hashlib.sha256(bytes.fromhex(prev) + row["record"].encode()).hexdigest()
            tree.append(verifier.leaf_hash(row["record"].encode()))
            at[row["seq"]] = (prev, tree.root().hex())
        end = line.get("end")
        if end:
            outer = json.loads(resign(key, end["checkpoint"], at))
            if cosigned == "drop":
                outer.pop("cosignatures", None)
            elif cosigned == "forge":
                for w in outer.get("cosignatures", []):
                    w["sig"] = base64.b64encode(sign(key, outer["checkpoint"].encode())).decode()
            end["checkpoint"] = json.dumps(outer, separators=(",", ":"), sort_keys=True)
            end["frontier"] = " ".join(f"{l}:{i}:{h.hex()}" for l, i, h in tree.nodes)
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(line, separators=(",", ":")) + "\n")


def main(path, op, *args):
    if op == "archive-rewrite":
        archive_rewrite(path, int(args[0]), args[1], args[2] if len(args) > 2 else "keep")
        return
    db = sqlite3.connect(path)
    seq = int(args[0]) if args else 0
    if op == "modify":
        (record,) = db.execute("SELECT record FROM audit WHERE seq = ?", (seq,)).fetchone()
        db.execute("UPDATE audit SET record = ? WHERE seq = ?", (change(record), seq))
    elif op == "delete":
        db.execute("DELETE FROM audit WHERE seq = ?", (seq,))
    elif op == "reorder":
        db.execute("UPDATE audit SET seq = -1 WHERE seq = ?", (seq,))
        db.execute("UPDATE audit SET seq = ? WHERE seq = ?", (seq, seq + 1))
        db.execute("UPDATE audit SET seq = ? WHERE seq = -1", (seq + 1,))
    elif op == "truncate":
        db.execute("DELETE FROM audit WHERE seq > ?", (seq,))
        db.execute("DELETE FROM audit_checkpoint WHERE seq > ?", (seq,))
        db.execute("DELETE FROM audit_cosignature WHERE seq > ?", (seq,))
    elif op == "delete-all":
        db.execute("DELETE FROM audit")
        db.execute("DELETE FROM audit_checkpoint")
        db.execute("DELETE FROM audit_cosignature")
        db.execute("DELETE FROM audit_tree")
    elif op == "attrs":
        db.execute("UPDATE audit_attrs SET attrs = replace(attrs, '\"DE\"', '\"US\"')")
    elif op == "rewrite":
        rewrite(db, seq, args[1] if len(args) > 1 else None, args[2] if len(args) > 2 else "keep")
    else:
        sys.exit(f"unknown operation {op}")
    db.commit()


if __name__ == "__main__":
    main(*sys.argv[1:])
