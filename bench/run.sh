#!/usr/bin/env bash
# Side-by-side proxy benchmark, all in ONE run so the figures are comparable as ratios:
#   direct   client -> upstream                      (the floor)
#   nginx    client -> nginx proxy_pass (keep-alive)  -> upstream
#   warden   client -> warden (1 worker)              -> upstream
#   portkey  client -> Portkey gateway (npm)          -> upstream
# and paced streamed answers (one word every 33 ms) as a chat client sees them: the time to the
# first visible text and to the last, through nginx, Warden and Warden with inspection.
# The target under test is pinned to TARGET_CPU; wrk and the upstream share HARNESS_CPU, so the
# figures are per core. CPU per request is read from /proc/PID/stat of the target.
# usage: bench/run.sh [BUILD_DIR]
#   env: DURATION WARMUP CONNS TARGETS SKIP_PEERS PACED_TARGETS PACED_N SECTIONS
#   SECTIONS (default all): load paced audit engine tokenizer identity limits
#   limits: LIMITS_N (callgrind requests; 0: none), LIMITS_CONNS LIMITS_ROUNDS LIMITS_DURATION
#   LIMITS_WARMUP (under load)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-"1 16 64"}
TARGETS=${TARGETS:-"direct nginx warden portkey warden-inspect warden-batched warden-strict"}
PACED_TARGETS=${PACED_TARGETS:-"nginx warden warden-inspect"}
PACED_N=${PACED_N:-40}  # sequential requests per target and answer
SECTIONS=${SECTIONS:-"load paced audit engine tokenizer identity limits"}
[[ " $SECTIONS " == *" load "* ]] || TARGETS=""
# Warden's inspect actions; the paced answers mask personal data and card numbers.
ACTIONS="{secret: block}"
VARIANT_CONNS=${VARIANT_CONNS:-"16"}  # Warden with inspection and audit: fewer runs
TARGET_CPU=${TARGET_CPU:-0}
HARNESS_CPU=${HARNESS_CPU:-1}
RUN="$HERE/.run"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$HERE/results/$STAMP"
CLK_TCK=$(getconf CLK_TCK)
P_UP=18080; P_UP_PACED=18079; P_UP_SLOW=18078; P_UP_PROSE=18077; P_UP_PII=18076; P_DIRECT=18090; P_NGINX=18081; P_WARDEN=18084; P_PORTKEY=18082; P_REDIS=18086
KEY=sk-bench
PIDS=()

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
mkdir -p "$RUN" "$OUT"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; log "port $1 did not open"; return 1; }
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12+$13}'))); done; echo "$t"; }
rss_kb() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^VmRSS/{print $2}' "/proc/$p/status"))); done; echo "$t"; }

# ---------------------------------------------------------------- the parts
gcc -O2 -o "$RUN/upstream" "$HERE/upstream.c"
if [[ " $TARGETS " == *" portkey "* && ! -d "$HERE/peers/node_modules/@portkey-ai/gateway" ]]; then
  (cd "$HERE/peers" && npm install --no-audit --no-fund --loglevel=error)
fi
taskset -c "$HARNESS_CPU" "$RUN/upstream" -p $P_UP -n 20 & PIDS+=($!)
taskset -c "$HARNESS_CPU" "$RUN/upstream" -p $P_UP_PACED -n 20 -d 5000 & PIDS+=($!)
taskset -c "$HARNESS_CPU" "$RUN/upstream" -p $P_UP_SLOW -n 20 -d 400000 & PIDS+=($!)
taskset -c "$HARNESS_CPU" "$RUN/upstream" -p $P_UP_PROSE -d 33000 -a prose & PIDS+=($!)
taskset -c "$HARNESS_CPU" "$RUN/upstream" -p $P_UP_PII -d 33000 -a pii & PIDS+=($!)

start_target() {  # name upstream_port -> sets TPIDS, TURL, THDRS
  local name=$1 up=$2 port
  TPIDS=(); THDRS="Authorization: Bearer $KEY"
  case $name in
    direct)
      port=$((P_DIRECT + up - P_UP + 100))
      taskset -c "$TARGET_CPU" "$RUN/upstream" -p "$port" -n 20 $([ "$up" = $P_UP_PACED ] && echo "-d 5000") $([ "$up" = $P_UP_SLOW ] && echo "-d 400000") & TPIDS=($!)
      ;;
    nginx)
      port=$P_NGINX
      mkdir -p "$RUN/nginx/tmp"
      sed -e "s/@PORT@/$port/; s/@UPSTREAM@/$up/" "$HERE/nginx.conf" > "$RUN/nginx/nginx.conf"
      taskset -c "$TARGET_CPU" nginx -p "$RUN/nginx/" -c "$RUN/nginx/nginx.conf" -e "$RUN/nginx/error.log" &
      sleep 0.5; TPIDS=($(cat "$RUN/nginx/nginx.pid") $(pgrep -P "$(cat "$RUN/nginx/nginx.pid")"))
      ;;
    warden*)
      port=$P_WARDEN
      local inspect=false audit=false durability=batched limits=""
      case $name in
        warden-inspect) inspect=true ;;
        warden-batched) inspect=true; audit=true ;;
        warden-strict) inspect=true; audit=true; durability=strict ;;
        warden-limits-none) inspect=true ;;
        warden-limits-in-process) inspect=true; limits=in-process ;;
        warden-limits-redis) inspect=true; limits=redis ;;
      esac
      rm -f "$RUN"/audit.db*
      sed -e "s/@PORT@/$port/; s/@UPSTREAM@/$up/; s/@KEYHASH@/$("$BUILD/warden" keys hash $KEY)/" \
          -e "s/@INSPECT@/$inspect/; s/@AUDIT@/$audit/; s/@DURABILITY@/$durability/; s|@AUDITDB@|$RUN/audit.db|" \
          -e "s/actions: {secret: block}/actions: $ACTIONS/" \
          "$HERE/warden.yaml" > "$RUN/warden.yaml"
      if [ -n "$limits" ]; then  # the four limit rules of bench/callgrind.sh LIMITS=4
        { printf 'limits:\n  rules:\n'; cat "$HERE/limits-rules.yaml"; } >> "$RUN/warden.yaml"
        if [ "$limits" = redis ]; then printf '  redis: 127.0.0.1:%s\n' "$P_REDIS" >> "$RUN/warden.yaml"; fi
      fi
      taskset -c "$TARGET_CPU" "$BUILD/warden" serve --config "$RUN/warden.yaml" > "$RUN/warden.log" 2>&1 & TPIDS=($!)
      ;;
    portkey)
      port=$P_PORTKEY
      THDRS="$THDRS|x-portkey-provider: openai|x-portkey-custom-host: http://127.0.0.1:$up/v1"
      (cd "$HERE/peers" && exec taskset -c "$TARGET_CPU" node --require ./bind-loopback.cjs \
        node_modules/@portkey-ai/gateway/build/start-server.js --port=$port --headless > "$RUN/portkey.log" 2>&1) & TPIDS=($!)
      ;;
  esac
  wait_port "$port"
  TURL="http://127.0.0.1:$port/v1/chat/completions"
}
stop_target() { for p in "${TPIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; }

# ---------------------------------------------------------------- load runs
printf 'target\tmode\tconns\trps\tp50_us\tp90_us\tp99_us\terrors\tnon2xx\tcpu_us_per_req\n' > "$OUT/load.tsv"
load() {  # target mode conns
  local body="$HERE/bodies/chat.json"; [ "$2" = stream ] && body="$HERE/bodies/chat-stream.json"
  BODY_FILE=$body HEADERS="$THDRS" taskset -c "$HARNESS_CPU" wrk -t1 -c"$3" -d"${WARMUP}s" -s "$HERE/wrk.lua" "$TURL" > /dev/null
  local c0 c1 res; c0=$(cpu_ticks "${TPIDS[@]}")
  res=$(BODY_FILE=$body HEADERS="$THDRS" taskset -c "$HARNESS_CPU" wrk -t1 -c"$3" -d"${DURATION}s" -s "$HERE/wrk.lua" "$TURL" | grep '^RESULT')
  c1=$(cpu_ticks "${TPIDS[@]}")
  local f; f() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< " $res"; }
  local req secs; req=$(f requests); secs=$(f secs)
  printf '%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%.1f\n' "$1" "$2" "$3" "$(echo "$req / $secs" | bc -l)" \
    "$(f p50_us)" "$(f p90_us)" "$(f p99_us)" "$(f errors)" "$(f non2xx)" \
    "$(echo "($c1 - $c0) * 1000000 / $CLK_TCK / $req" | bc -l)" | tee -a "$OUT/load.tsv" >&2
}

# ---------------------------------------------------------------- time to first byte
printf 'target\tttfb_p50_ms\tttfb_p99_ms\ttotal_p50_ms\tsamples\n' > "$OUT/ttfb.tsv"
ttfb() {  # target: 200 sequential paced streams on one keep-alive connection
  local args=() i; IFS='|' read -ra hs <<< "$THDRS"
  for h in "${hs[@]}"; do args+=(-H "$h"); done
  for i in $(seq 200); do args+=(--next -s -N -o /dev/null -w '%{time_starttransfer} %{time_total}\n' "${hs[@]/#/-H}" -H 'Content-Type: application/json' --data-binary @"$HERE/bodies/chat-stream.json" "$TURL"); done
  taskset -c "$HARNESS_CPU" curl "${args[@]:1}" > "$RUN/ttfb-$1.txt" 2>/dev/null || true
  sort -n "$RUN/ttfb-$1.txt" | awk -v t="$1" '{a[NR]=$1; b[NR]=$2} END {printf "%s\t%.3f\t%.3f\t%.1f\t%d\n", t, a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000, b[int(NR*0.5)]*1000, NR}' | tee -a "$OUT/ttfb.tsv" >&2
}

# ---------------------------------------------------------------- memory
printf 'target\trss_idle_kib\trss_1000_streams_kib\n' > "$OUT/rss.tsv"
rss() {  # target: RSS idle, then while 1000 slow streams (8 s each) are open
  local idle; idle=$(rss_kb "${TPIDS[@]}")
  BODY_FILE="$HERE/bodies/chat-stream.json" HEADERS="$THDRS" taskset -c "$HARNESS_CPU" wrk -t1 -c1000 -d6s --timeout 20s -s "$HERE/wrk.lua" "$TURL" > /dev/null &
  local w=$!; sleep 4
  local busy; busy=$(rss_kb "${TPIDS[@]}")
  wait $w || true
  printf '%s\t%s\t%s\n' "$1" "$idle" "$busy" | tee -a "$OUT/rss.tsv" >&2
}

# ---------------------------------------------------------------- paced answers
printf 'target\tanswer\tfirst_p50_ms\tfirst_p99_ms\tlast_p50_ms\tlast_p99_ms\tsamples\n' > "$OUT/paced.tsv"
paced() {  # target answer: PACED_N sequential paced answers on one keep-alive connection
  IFS='|' read -ra hs <<< "$THDRS"
  taskset -c "$HARNESS_CPU" python3 "$HERE/paced.py" "$1" "$2" "$TURL" "$HERE/bodies/chat-stream.json" \
    "$PACED_N" "$OUT/paced-$1-$2.txt" "${hs[@]}" | tee -a "$OUT/paced.tsv" >&2
}

for t in $TARGETS; do
  log "== $t"
  start_target "$t" $P_UP
  conns=$CONNS
  case $t in warden-*) conns=$VARIANT_CONNS ;; esac
  for mode in json stream; do for c in $conns; do load "$t" "$mode" "$c"; done; done
  stop_target
  case $t in warden-batched|warden-strict) continue ;; esac
  start_target "$t" $P_UP_PACED; ttfb "$t"; stop_target
  case $t in portkey|warden-*) continue ;; esac
  start_target "$t" $P_UP_SLOW; rss "$t"; stop_target
done

if [[ " $SECTIONS " == *" paced "* ]]; then
  ACTIONS="{secret: block, pii: mask, fin: mask}"
  for t in $PACED_TARGETS; do
    log "== paced answers: $t"
    start_target "$t" $P_UP_PROSE; paced "$t" prose; stop_target
    start_target "$t" $P_UP_PII; paced "$t" pii; stop_target
  done
  ACTIONS="{secret: block}"
fi

if [[ " $SECTIONS " == *" audit "* ]]; then
# Audit: the SQLite sink's records per second (five repetitions each: medians, and checkpoints
# on against off as a ratio of this run's medians), the record's size whole and compact, one
# inclusion proof in a store of a million records, and replay speed over a million records.
log "== audit sink and replay"
"$BUILD/bench/audit_bench" --benchmark_filter=BM_SqliteSink --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true 2>/dev/null | grep -E "^BM_.*_(median|cv) " > "$OUT/audit-sink.txt" || true
python3 - "$OUT/audit-sink.txt" >> "$OUT/audit-sink.txt" <<'PY' || true
import re, sys
rate = {}
for line in open(sys.argv[1]):
    m = re.match(r"BM_SqliteSink/strict:(\d)/checkpoints:(\d)/compact:1/real_time_median .*records_per_s=([\d.]+)(k?)/s", line)
    if m:
        rate[(m[1], m[2])] = float(m[3]) * (1000 if m[4] else 1)
for strict, name in (("0", "batched"), ("1", "strict")):
    if (strict, "0") in rate and (strict, "1") in rate:
        off, on = rate[(strict, "0")], rate[(strict, "1")]
        print(f"checkpoints on/off, {name}: {on:.0f} / {off:.0f} records/s (medians) = {on / off:.3f}")
PY
"$BUILD/bench/audit_bench" --benchmark_filter='BM_InclusionProof1M|BM_PostgresSink' 2>/dev/null | grep -E "^BM_" >> "$OUT/audit-sink.txt" || true
"$BUILD/bench/audit_bench" make-db "$RUN/replay.db" 1000000
sed -e "s/@PORT@/1/; s/@UPSTREAM@/1/; s/@KEYHASH@/$("$BUILD/warden" keys hash $KEY)/" \
    -e "s/@INSPECT@/true/; s/@AUDIT@/false/; s/@DURABILITY@/batched/; s|@AUDITDB@|$RUN/x.db|" \
    "$HERE/warden.yaml" | sed 's/^    - {id: allow-all, effect: permit}/    - {id: allow-all, effect: permit}\n    - {id: ops-no-pii, effect: forbid, when: [{attr: principal.team, op: in, values: [ops]}, {attr: data.classes, op: any, values: [pii]}]}/' > "$RUN/candidate.yaml"
"$BUILD/warden" replay --db "$RUN/replay.db" --policy "$RUN/candidate.yaml" > "$OUT/replay.txt" 2>&1 || true
rm -f "$RUN"/replay.db*
fi

# Inspection engine on one core: Google Benchmark medians (the gated engine, every pattern on
# every byte as the baseline, adversarial inputs, streams, 8 KB prompts, compile and cache load)
# and instructions per KB under callgrind.
if [[ " $SECTIONS " == *" engine "* ]]; then
log "== inspection engine"
taskset -c "$TARGET_CPU" "$BUILD/bench/inspect_bench" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true 2>/dev/null | grep -E "_median" > "$OUT/inspect.txt" || true
"$HERE/inspect_callgrind.sh" "$BUILD" >> "$OUT/inspect.txt" 2>/dev/null || true
fi

# Token ids: decoding (ids/s) and counting (tokens/s) on one core; the first find() of each
# encoding (its pre-tokenizer compiled) is printed first.
if [[ " $SECTIONS " == *" tokenizer "* ]]; then
log "== tokenizer"
taskset -c "$TARGET_CPU" "$BUILD/bench/tokenizer_bench" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true 2>/dev/null | grep -E "^first|_median" > "$OUT/tokenizer.txt" || true
fi

# Who is asking: instructions per request over TLS with an API key, a cached token and mTLS on
# resumed sessions, the first use of each signature algorithm, the handshakes (callgrind).
if [[ " $SECTIONS " == *" identity "* ]]; then
log "== identity (callgrind)"
"$HERE/identity.sh" "$BUILD" > "$OUT/identity.txt" 2>&1 || log "identity.sh failed: see $OUT/identity.txt"
fi

# Limits: instructions per request of the worker thread (callgrind, benign chat) with no limits,
# four in-process limits and the same four in Redis (a redis-server started here on a loopback
# port), in one run: (total at LIMITS_N requests - total at 0) / LIMITS_N, and each against no
# limits (LIMITS_N=0: left out); then requests/s, CPU and latency under load (below).
if [[ " $SECTIONS " == *" limits "* ]]; then
LIMITS_N=${LIMITS_N:-500}
: > "$OUT/limits.txt"
taskset -c "$HARNESS_CPU" redis-server --port "$P_REDIS" --bind 127.0.0.1 --save '' --appendonly no \
  > "$RUN/redis.log" 2>&1 & REDIS_PID=$!; PIDS+=("$REDIS_PID")
wait_port "$P_REDIS"
if [ "$LIMITS_N" -gt 0 ]; then
log "== limits (callgrind, worker thread)"
for cfg in "none 0 -" "in-process 4 -" "redis 4 127.0.0.1:$P_REDIS"; do
  read -r name limits redis <<< "$cfg"
  [ "$redis" = "-" ] && redis=""
  per=()
  for n in 0 "$LIMITS_N"; do
    w=$(VALGRIND_ARGS=--separate-threads=yes LIMITS=$limits REDIS=$redis "$HERE/callgrind.sh" "$BUILD" "$n" json 2>&1 |
      grep -o 'worker_instructions=[0-9]*' | cut -d= -f2 || true)
    per+=("${w:-0}")
  done
  echo "$name ${per[0]} ${per[1]}" >> "$OUT/limits.raw"
done
python3 - "$OUT/limits.raw" "$LIMITS_N" >> "$OUT/limits.txt" <<'PY' || true
import sys
n = int(sys.argv[2])
rows = [l.split() for l in open(sys.argv[1])]
per = {r[0]: (int(r[2]) - int(r[1])) / n for r in rows if int(r[2]) > 0}
base = per.get("none")
for name, v in per.items():
    extra = f"  ({(v - base) / base * 100:+.2f}% over none)" if base and name != "none" else ""
    print(f"limits {name:10s} {v:10.0f} instructions per request (worker thread){extra}")
PY
fi

# The same under load, wall clock: the benign chat (inspection on) straight to the upstream, and
# through one Warden worker with no limits, the four in-process and the same four in Redis (the
# redis-server above), each driven by wrk at each of LIMITS_CONNS connections (1: the latency a
# request adds, nothing queued; 16: throughput) against the same upstream; LIMITS_ROUNDS rounds
# with the setups interleaved, so that whatever else the machine does meets them alike. Warden
# (or the direct upstream) on TARGET_CPU; wrk, the upstream and Redis on HARNESS_CPU. CPU from
# /proc/PID/stat before and after each measured run: the gateway's, and Redis's apart.
log "== limits under load (wall clock)"
LIMITS_CONNS=${LIMITS_CONNS:-"1 16"}
LIMITS_ROUNDS=${LIMITS_ROUNDS:-2}
LIMITS_DURATION=${LIMITS_DURATION:-3}
LIMITS_WARMUP=${LIMITS_WARMUP:-1}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'setup\tconns\tround\trequests\tsecs\tp50_us\tp99_us\terrors\tnon2xx\tcpu_ticks\tredis_ticks\n' > "$OUT/limits-load.tsv"
for round in $(seq "$LIMITS_ROUNDS"); do
  for setup in direct none in-process redis; do
    target=warden-limits-$setup; [ "$setup" = direct ] && target=direct
    start_target "$target" $P_UP
    for c in $LIMITS_CONNS; do
      BODY_FILE="$HERE/bodies/chat.json" HEADERS="$THDRS" taskset -c "$HARNESS_CPU" wrk -t1 -c"$c" -d"${LIMITS_WARMUP}s" -s "$HERE/wrk.lua" "$TURL" > /dev/null
      c0=$(cpu_ticks "${TPIDS[@]}"); r0=$(cpu_ticks "$REDIS_PID")
      res=$(BODY_FILE="$HERE/bodies/chat.json" HEADERS="$THDRS" taskset -c "$HARNESS_CPU" wrk -t1 -c"$c" -d"${LIMITS_DURATION}s" -s "$HERE/wrk.lua" "$TURL" | grep '^RESULT')
      c1=$(cpu_ticks "${TPIDS[@]}"); r1=$(cpu_ticks "$REDIS_PID")
      f() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< " $res"; }
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$setup" "$c" "$round" "$(f requests)" "$(f secs)" \
        "$(f p50_us)" "$(f p99_us)" "$(f errors)" "$(f non2xx)" $((c1 - c0)) $((r1 - r0)) | tee -a "$OUT/limits-load.tsv" >&2
    done
    stop_target
  done
done
python3 - "$OUT/limits-load.tsv" "$CLK_TCK" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/limits.txt" <<'PY' || true
import csv, statistics, sys
tck = int(sys.argv[2])
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
agg = {}
for r in rows:
    a = agg.setdefault((r["conns"], r["setup"]), {"req": 0, "secs": 0.0, "ticks": 0, "redis": 0, "p50": [], "p99": [], "bad": 0})
    a["req"] += int(r["requests"]); a["secs"] += float(r["secs"])
    a["ticks"] += int(r["cpu_ticks"]); a["redis"] += int(r["redis_ticks"])
    a["p50"].append(int(r["p50_us"]) / 1000); a["p99"].append(int(r["p99_us"]) / 1000)
    a["bad"] += int(r["errors"]) + int(r["non2xx"])
rounds = max((int(r["round"]) for r in rows), default=0)
print(f"\nunder load (wrk; {rounds} rounds, the setups interleaved; sums over the rounds, latency the mean of the rounds' percentiles;")
print("CPU: the gateway's (the upstream's for direct), Redis's apart; ratios and added latency against none;")
print(f"the machine's load average before and after: {sys.argv[3]} / {sys.argv[4]})")
print(f"{'setup':11s} {'conns':>5s} {'req/s':>8s} {'vs none':>8s} {'CPU s/1k':>9s} {'vs none':>8s} {'p50 ms':>7s} {'p99 ms':>7s} "
      f"{'+p50 ms':>8s} {'+p99 ms':>8s} {'Redis CPU s/1k':>15s} {'errors':>7s}")
for conns in dict.fromkeys(r["conns"] for r in rows):
    none = agg.get((conns, "none"))
    for name in ("direct", "none", "in-process", "redis"):
        a = agg.get((conns, name))
        if not a or a["req"] == 0:
            continue
        rps, cpu = a["req"] / a["secs"], a["ticks"] / tck / a["req"] * 1000
        p50, p99 = statistics.mean(a["p50"]), statistics.mean(a["p99"])
        if none and none["req"] and name != "none":
            nrps, ncpu = none["req"] / none["secs"], none["ticks"] / tck / none["req"] * 1000
            vs_rps, vs_cpu = f"{rps / nrps:.3f}x", (f"{cpu / ncpu:.3f}x" if ncpu else "-")
            d50 = f"{p50 - statistics.mean(none['p50']):+.3f}"
            d99 = f"{p99 - statistics.mean(none['p99']):+.3f}"
        else:
            vs_rps = vs_cpu = d50 = d99 = "-"
        redis = f"{a['redis'] / tck / a['req'] * 1000:.3f}" if name == "redis" else "-"
        print(f"{name:11s} {conns:>5s} {rps:8.0f} {vs_rps:>8s} {cpu:9.3f} {vs_cpu:>8s} {p50:7.3f} {p99:7.3f} "
              f"{d50:>8s} {d99:>8s} {redis:>15s} {a['bad']:7d}")
PY
fi

{
  echo "# Proxy benchmark $STAMP"
  echo
  echo '```'
  echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f MiB", $2/1024}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "kernel: $(uname -r); $(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "nginx: $(nginx -v 2>&1 | cut -d/ -f2); wrk: $(dpkg-query -W -f='${Version}' wrk); node: $(node --version)"
  echo "settings: DURATION=${DURATION}s WARMUP=${WARMUP}s CONNS='$CONNS' target on cpu$TARGET_CPU, wrk+upstream on cpu$HARNESS_CPU"
  echo "request: $(wc -c < "$HERE/bodies/chat.json") bytes; answer: ~1 KB JSON, or 22 SSE events"
  echo '```'
  python3 "$HERE/summarize.py" "$OUT"
  echo
  echo "## Audit sink (SQLite, this machine) and replay"
  echo
  echo '```'
  cat "$OUT/audit-sink.txt" "$OUT/replay.txt" 2>/dev/null || true
  echo '```'
  echo
  echo "## Inspection engine (one core)"
  echo
  echo '```'
  cat "$OUT/inspect.txt" 2>/dev/null || true
  echo '```'
  echo
  echo "## Tokenizer (one core)"
  echo
  echo '```'
  cat "$OUT/tokenizer.txt" 2>/dev/null || true
  echo '```'
  echo
  echo "## Identity over TLS (callgrind instructions per request, one worker, inspection on)"
  echo
  echo '```'
  cat "$OUT/identity.txt" 2>/dev/null || true
  echo '```'
  echo
  echo "## Limits (callgrind instructions per request, worker thread, inspection on; then under load)"
  echo
  echo '```'
  cat "$OUT/limits.txt" 2>/dev/null || true
  echo '```'
} > "$OUT/README.md"
cp "$OUT/README.md" "$HERE/results/latest.md"
log "results: $OUT/README.md"
