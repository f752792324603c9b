#!/usr/bin/env bash
# Instructions per KB of inspection (valgrind --tool=callgrind): repeatable whatever else the
# machine does. `warden scan` scans one file whole; a run on a one-byte file (start-up, database
# load from the cache) is subtracted.
# usage: bench/inspect_callgrind.sh [BUILD_DIR]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="$(cd "${1:-$HERE/../build}" && pwd)"
RUN="$HERE/.run"; mkdir -p "$RUN"
# The texts of bench/inspect_bench: prose and code (licence texts, C++ headers, the corpus's hard
# negatives) and the corpus texts that carry findings.
python3 - "$HERE/../tests/data/inspect/corpus.jsonl" "$RUN" <<'EOF'
import json, os, sys
corpus, out = sys.argv[1], sys.argv[2]
dense, negatives = [], []
for line in open(corpus, encoding="utf-8"):
    d = json.loads(line)
    (dense if d["findings"] else negatives).append(d["text"])
prose = "".join(open(f"/usr/share/common-licenses/{n}", encoding="utf-8").read()
                for n in ("GPL-3", "Apache-2.0"))
code = ""
for name in sorted(os.listdir("/usr/include/c++/12/bits")):
    code += open(f"/usr/include/c++/12/bits/{name}", encoding="utf-8", errors="replace").read()
    if len(code) > 1 << 20:
        break
benign = ""
while len(benign) < 1 << 20:
    benign += "\n".join(negatives) + "\n" + prose + code[: 1 << 19]
text = ""
while len(text) < 1 << 20:
    text += "\n".join(dense) + "\n"
open(f"{out}/benign.txt", "w", encoding="utf-8").write(benign)
open(f"{out}/dense.txt", "w", encoding="utf-8").write(text)
open(f"{out}/empty.txt", "w").write("x")  # one byte: the engine is compiled (or loaded)
EOF
count() {
  valgrind --tool=callgrind --callgrind-out-file="$RUN/inspect.callgrind" \
    "$BUILD/warden" scan --format json "$1" > /dev/null 2> "$RUN/inspect.log"
  grep -o 'Collected : [0-9]*' "$RUN/inspect.log" | grep -o '[0-9]*$'
}
count "$RUN/empty.txt" > /dev/null  # the cache for the CPU valgrind emulates
base=$(count "$RUN/empty.txt")
echo "start-up instructions=$base"
for text in benign dense; do
  bytes=$(stat -c %s "$RUN/$text.txt")
  total=$(count "$RUN/$text.txt")
  echo "$text bytes=$bytes instructions_per_kb=$(( (total - base) * 1024 / bytes ))"
done
