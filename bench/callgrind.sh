#!/usr/bin/env bash
# Instructions per proxied request (valgrind --tool=callgrind): repeatable whatever else the
# machine does. Drives a fixed number of requests with curl through one Warden worker.
# usage: bench/callgrind.sh [BUILD_DIR] [REQUESTS] [json|stream|messages|messages-stream|responses|responses-stream|jwt|tls|tls-jwt|tls-mtls]
#   json, stream: chat completions; messages*: Anthropic's Messages API; responses*: OpenAI's
#   Responses API — the same prompt and answer in each API's format.
#   jwt: a chat completion with a token (verified once, then from the worker's cache)
#   tls: a chat completion over a TLS listener; tls-jwt: both; tls-mtls: with an API key and a
#   client certificate (SPIFFE ID) on a listener that verifies clients
# env: VALGRIND_ARGS=--separate-threads=yes: also print the worker thread's own instructions;
#   LIMITS=1..4: that many limit rules (in-process store) that every request meets and none
#   refuses — a request rate, a token rate, a token budget and a spend budget;
#   REDIS=host:port: those limits in that Redis instead (the run then also counts the EVALSHAs
#   Redis ran, from INFO commandstats before and after: two per request, one reserving and one
#   settling, besides the connection's three SCRIPT LOADs);
#   PORT, UPSTREAM_PORT (default: free ones, so that runs side by side do not meet);
#   JWT_ALG RS256|PS256|ES256|EdDSA (default ES256); JWT_TOKENS one (default: one token, cached
#   after its first use) or each (a new token per request: every request verifies a signature);
#   CONN keepalive (default: one connection) | resume (a new connection per request, resuming
#   the TLS session) | full (a new connection and a full handshake per request)
# Every request must answer 200, else the run fails: a figure from refused requests is no figure.
# A handshake under valgrind on a loaded machine may take seconds: first_byte_timeout_ms is 60 s.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="$(cd "${1:-$HERE/../build}" && pwd)"
N=${2:-2000}
MODE=${3:-json}
JWT_ALG=${JWT_ALG:-ES256}
JWT_TOKENS=${JWT_TOKENS:-one}
CONN=${CONN:-keepalive}
RUN="$HERE/.run/cg-$MODE"; mkdir -p "$RUN"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=${PORT:-$(free_port)}
UPSTREAM_PORT=${UPSTREAM_PORT:-$(free_port)}
gcc -O2 -o "$RUN/upstream" "$HERE/upstream.c"
"$RUN/upstream" -p "$UPSTREAM_PORT" -n 20 & UP=$!
W=""
trap 'kill $UP 2>/dev/null; [ -z "$W" ] || kill $W 2>/dev/null || true' EXIT
sed -e "s/@PORT@/$PORT/; s/@UPSTREAM@/$UPSTREAM_PORT/; s/@KEYHASH@/$("$BUILD/warden" keys hash sk-bench)/" \
    -e "s/@INSPECT@/true/; s/@AUDIT@/false/; s/@DURABILITY@/batched/; s|@AUDITDB@|$RUN/x.db|" \
    -e "s/^  workers: 1$/  workers: 1\n  first_byte_timeout_ms: 60000/" \
    "$HERE/warden.yaml" > "$RUN/cg.yaml"
LIMITS=${LIMITS:-0}
if [ "$LIMITS" -gt 0 ]; then
  printf 'limits:\n  rules:\n' >> "$RUN/cg.yaml"
  head -n "$LIMITS" "$HERE/limits-rules.yaml" >> "$RUN/cg.yaml"
  if [ -n "${REDIS:-}" ]; then
    printf '  redis: %s\n  redis_timeout_ms: 5000\n' "$REDIS" >> "$RUN/cg.yaml"
  fi
fi
# How many times Redis has run a command (INFO commandstats; a script's own calls are counted
# under their names, so only what a client sends is asked for).
redis_calls() {
  [ -n "${REDIS:-}" ] || { echo 0; return; }
  redis-cli -h "${REDIS%:*}" -p "${REDIS##*:}" INFO commandstats |
    awk -F'[:=,]' -v c="cmdstat_$1" '$1 == c { n += $3 } END { print n + 0 }'
}
CURL=()
: > "$RUN/bearers"
case "$MODE" in
  jwt|tls-jwt)
    # An issuer with its key set in a file, and tokens signed by it (valid for a day): one, or a
    # different one (another jti) for each request.
    count=1; [ "$JWT_TOKENS" = each ] && count=$N
    node -e '
      const c = require("crypto"), fs = require("fs");
      const [jwks, alg, count] = process.argv.slice(1);
      const k = { RS256: () => c.generateKeyPairSync("rsa", { modulusLength: 2048 }),
                  PS256: () => c.generateKeyPairSync("rsa", { modulusLength: 2048 }),
                  ES256: () => c.generateKeyPairSync("ec", { namedCurve: "P-256" }),
                  EdDSA: () => c.generateKeyPairSync("ed25519") }[alg]();
      fs.writeFileSync(jwks, JSON.stringify({ keys: [{ ...k.publicKey.export({ format: "jwk" }), kid: "b1", alg }] }));
      const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
      const exp = Math.floor(Date.now() / 1000) + 86400;
      for (let i = 0; i < Number(count); i++) {
        const input = b({ alg, kid: "b1" }) + "." + b({ iss: "https://bench", aud: "warden", sub: "bench", jti: String(i), exp });
        const data = Buffer.from(input);
        const sig = alg === "EdDSA" ? c.sign(null, data, k.privateKey)
          : alg === "PS256" ? c.sign("sha256", data, { key: k.privateKey, padding: c.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
          : c.sign("sha256", data, { key: k.privateKey, dsaEncoding: "ieee-p1363" });
        process.stdout.write(input + "." + sig.toString("base64url") + "\n");
      }
    ' "$RUN/jwks.json" "$JWT_ALG" "$count" > "$RUN/bearers"
    printf 'identity:\n  jwt:\n    issuers:\n      - {issuer: "https://bench", audiences: [warden], jwks_file: "%s"}\n' \
      "$RUN/jwks.json" >> "$RUN/cg.yaml" ;;
esac
[ -s "$RUN/bearers" ] || echo sk-bench > "$RUN/bearers"
SCHEME=http
case "$MODE" in
  tls|tls-jwt|tls-mtls)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
      -addext subjectAltName=DNS:localhost -keyout "$RUN/tls.key" -out "$RUN/tls.crt" 2>/dev/null
    client_tls=""
    if [ "$MODE" = tls-mtls ]; then
      # A device CA and one device certificate naming a SPIFFE ID.
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=devices \
        -keyout "$RUN/ca.key" -out "$RUN/ca.crt" 2>/dev/null
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=laptop-1 \
        -keyout "$RUN/client.key" -out "$RUN/client.csr" 2>/dev/null
      printf 'subjectAltName=URI:spiffe://bench/device/laptop-1\n' > "$RUN/client.ext"
      openssl x509 -req -in "$RUN/client.csr" -CA "$RUN/ca.crt" -CAkey "$RUN/ca.key" -CAcreateserial \
        -days 2 -extfile "$RUN/client.ext" -out "$RUN/client.crt" 2>/dev/null
      client_tls=", client_ca_file: \"$RUN/ca.crt\", client_certs: required"
      CURL+=(--cert "$RUN/client.crt" --key "$RUN/client.key")
    fi
    sed -i "s|^  listen: 127.0.0.1:$PORT|  listeners:\n    - {listen: \"127.0.0.1:$PORT\", tls: {cert_file: \"$RUN/tls.crt\", key_file: \"$RUN/tls.key\"$client_tls}}|" "$RUN/cg.yaml"
    SCHEME=https
    CURL+=(--cacert "$RUN/tls.crt" --resolve "localhost:$PORT:127.0.0.1") ;;
esac
case "$CONN" in
  keepalive) ;;
  resume) CURL+=(-H 'Connection: close') ;;           # curl keeps the session for the next one
  full) CURL+=(-H 'Connection: close' --no-sessionid) ;;
  *) echo "unknown CONN $CONN" >&2; exit 2 ;;
esac
HOST=127.0.0.1; [ "$SCHEME" = https ] && HOST=localhost
rm -f "$RUN"/callgrind.out "$RUN"/callgrind.out-*
valgrind --tool=callgrind ${VALGRIND_ARGS:-} --callgrind-out-file="$RUN/callgrind.out" "$BUILD/warden" serve --config "$RUN/cg.yaml" 2> "$RUN/callgrind.log" & W=$!
for _ in $(seq 600); do (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.2; done  # valgrind starts slowly on a loaded machine
case "$MODE" in
  json|jwt|tls|tls-jwt|tls-mtls) body="$HERE/bodies/chat.json"; route=/v1/chat/completions ;;
  stream) body="$HERE/bodies/chat-stream.json"; route=/v1/chat/completions ;;
  messages*) body="$HERE/bodies/$MODE.json"; route=/v1/messages ;;
  responses*) body="$HERE/bodies/$MODE.json"; route=/v1/responses ;;
  *) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
args=()
mapfile -t bearers < "$RUN/bearers"
for i in $(seq 0 $((N - 1))); do
  args+=(--next -s -o /dev/null -w '%{http_code}\n' "${CURL[@]}" -H "Authorization: Bearer ${bearers[i % ${#bearers[@]}]}"
         -H 'Content-Type: application/json' --data-binary @"$body" "$SCHEME://$HOST:$PORT$route")
done
evalsha_before=$(redis_calls evalsha); script_before=$(redis_calls "script|load")
if [ "$N" -gt 0 ]; then
  curl "${args[@]:1}" > "$RUN/statuses" || true
  ok=$(grep -c '^200$' "$RUN/statuses" || true)
  if [ "$ok" != "$N" ]; then
    echo "mode=$MODE: $ok of $N requests answered 200 ($(sort "$RUN/statuses" | uniq -c | xargs)); see $RUN" >&2
    exit 1
  fi
fi
# Start-up and shutdown are in the total too: measure them with zero requests and subtract.
# A background job starts with SIGINT ignored until warden's own handler is installed, which may
# come after the port opens: signal until it exits.
while kill -0 $W 2>/dev/null; do kill -INT $W 2>/dev/null || true; sleep 2; done; wait $W || true
total=$(grep -o 'Collected : [0-9]*' "$RUN/callgrind.log" | grep -o '[0-9]*$' || true)
[ -n "$total" ] || total=$(callgrind_annotate "$RUN/callgrind.out" | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1}')
echo "mode=$MODE limits=$LIMITS conn=$CONN jwt_alg=$JWT_ALG jwt_tokens=$JWT_TOKENS requests=$N total_instructions=$total"
if [[ "${VALGRIND_ARGS:-}" == *separate-threads=yes* ]]; then
  # The worker thread alone (the one running Worker::run): start-up on the main thread varies by
  # millions of instructions between runs, more than a small per-request difference.
  worker=0
  for f in "$RUN"/callgrind.out-*; do
    grep -q 'Worker::run' "$f" || continue
    worker=$((worker + $(awk '/^(summary|totals):/{print $2; exit}' "$f")))
  done
  echo "worker_instructions=$worker"
fi
if [ -n "${REDIS:-}" ]; then
  # The connection's first commands load the scripts (SCRIPT LOAD, once per worker).
  echo "redis=$REDIS evalsha=$(( $(redis_calls evalsha) - evalsha_before )) script_load=$(( $(redis_calls "script|load") - script_before )) requests=$N"
fi
[ -f "$RUN/callgrind.out" ] && callgrind_annotate --inclusive=no "$RUN/callgrind.out" 2>/dev/null | sed -n '/file:function/,$p' | head -25 | cut -c1-160 || true
