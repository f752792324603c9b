#!/bin/sh
# False findings per MB on the fixed benign corpus (tests/data/benign, no sensitive value in it):
#   scripts/benign-fp.sh BUILD/warden [--max PER_MB] [--config FILE]
# prints "N findings in X MB = Y per MB", then the count per class and, with WARDEN_FP_VERBOSE=1,
# every finding with the text around it. With --max it fails when Y exceeds PER_MB.
# MB = 10^6 bytes of text (the "text" fields, UTF-8), not of the compressed file.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
corpus="$here/tests/data/benign/benign.jsonl.gz"
[ $# -ge 1 ] || { echo "usage: $0 WARDEN_BIN [--max PER_MB] [--config FILE]" >&2; exit 2; }
warden=$1
shift
max=""
config=""
while [ $# -gt 0 ]; do
  case "$1" in
    --max) max=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$warden" ] || { echo "$warden: not an executable" >&2; exit 2; }
[ -f "$corpus" ] || { echo "$corpus: missing" >&2; exit 2; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
if [ -n "$config" ]; then
  gzip -dc "$corpus" | "$warden" scan --config "$config" --jsonl - >"$out"
else
  gzip -dc "$corpus" | "$warden" scan --jsonl - >"$out"
fi

python3 - "$corpus" "$out" "$max" <<'PY'
import collections, gzip, json, os, sys

corpus, scanned, max_per_mb = sys.argv[1], sys.argv[2], sys.argv[3]
texts = {}
with gzip.open(corpus, "rt", encoding="utf-8") as fh:
    for line in fh:
        doc = json.loads(line)
        texts[doc["id"]] = doc["text"]
size = sum(len(t.encode("utf-8")) for t in texts.values())
per_class = collections.Counter()
seen = 0
verbose = os.environ.get("WARDEN_FP_VERBOSE") == "1"
with open(scanned, encoding="utf-8") as fh:
    for line in fh:
        doc = json.loads(line)
        seen += 1
        raw = texts[doc["id"]].encode("utf-8")
        for f in doc["findings"]:
            per_class[f["class"]] += 1
            if verbose:
                ctx = raw[max(0, f["start"] - 40):f["end"] + 40].decode("utf-8", "replace")
                print("  %s %r in %s: %r" % (f["class"], raw[f["start"]:f["end"]].decode("utf-8", "replace"),
                                             doc["id"], ctx))
if seen != len(texts):
    sys.exit("scanned %d texts of %d" % (seen, len(texts)))
n = sum(per_class.values())
mb = size / 1e6
rate = n / mb
print("%d findings in %.2f MB = %.2f per MB" % (n, mb, rate))
for cls, k in sorted(per_class.items(), key=lambda kv: (-kv[1], kv[0])):
    print("  %-32s %d" % (cls, k))
if max_per_mb and round(rate, 2) > float(max_per_mb):  # the figure as printed
    sys.exit("false findings per MB %.2f exceed the ceiling %s" % (rate, max_per_mb))
PY
