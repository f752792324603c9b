#!/usr/bin/env bash
# Instructions per proxied request (valgrind --tool=callgrind): repeatable whatever else the
# machine does. Drives a fixed number of requests with curl through one Warden worker.
# usage: bench/callgrind.sh [BUILD_DIR] [REQUESTS] [json|stream|messages|messages-stream|responses|responses-stream|jwt|tls|tls-jwt]
#   json, stream: chat completions; messages*: Anthropic's Messages API; responses*: OpenAI's
#   Responses API — the same prompt and answer in each API's format.
#   jwt: a chat completion with a token (ES256, verified once, then from the worker's cache)
#   tls: a chat completion over a TLS listener (one connection: the handshake is spread over the
#   requests); tls-jwt: both
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="$(cd "${1:-$HERE/../build}" && pwd)"
N=${2:-2000}
MODE=${3:-json}
RUN="$HERE/.run"; mkdir -p "$RUN"
gcc -O2 -o "$RUN/upstream" "$HERE/upstream.c"
"$RUN/upstream" -p 18380 -n 20 & UP=$!
sed -e "s/@PORT@/18384/; s/@UPSTREAM@/18380/; s/@KEYHASH@/$("$BUILD/warden" keys hash sk-bench)/" \
    -e "s/@INSPECT@/true/; s/@AUDIT@/false/; s/@DURABILITY@/batched/; s|@AUDITDB@|$RUN/x.db|" \
    "$HERE/warden.yaml" > "$RUN/cg.yaml"
BEARER=sk-bench
SCHEME=http
CURL_TLS=()
case "$MODE" in
  jwt|tls-jwt)
    # An issuer with its key set in a file, and one token signed by it (valid for a day).
    BEARER=$(node -e '
      const c = require("crypto"), fs = require("fs");
      const k = c.generateKeyPairSync("ec", { namedCurve: "P-256" });
      fs.writeFileSync(process.argv[1], JSON.stringify({ keys: [{ ...k.publicKey.export({ format: "jwk" }), kid: "b1", alg: "ES256" }] }));
      const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
      const input = b({ alg: "ES256", kid: "b1" }) + "." + b({ iss: "https://bench", aud: "warden", sub: "bench", exp: Math.floor(Date.now() / 1000) + 86400 });
      process.stdout.write(input + "." + c.sign("sha256", Buffer.from(input), { key: k.privateKey, dsaEncoding: "ieee-p1363" }).toString("base64url"));
    ' "$RUN/jwks.json")
    printf 'identity:\n  jwt:\n    issuers:\n      - {issuer: "https://bench", audiences: [warden], jwks_file: "%s"}\n' \
      "$RUN/jwks.json" >> "$RUN/cg.yaml" ;;
esac
case "$MODE" in
  tls|tls-jwt)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
      -addext subjectAltName=DNS:localhost -keyout "$RUN/tls.key" -out "$RUN/tls.crt" 2>/dev/null
    sed -i "s|^  listen: 127.0.0.1:18384|  listeners:\n    - {listen: \"127.0.0.1:18384\", tls: {cert_file: \"$RUN/tls.crt\", key_file: \"$RUN/tls.key\"}}|" "$RUN/cg.yaml"
    SCHEME=https
    CURL_TLS=(--cacert "$RUN/tls.crt" --resolve localhost:18384:127.0.0.1) ;;
esac
HOST=127.0.0.1; [ "$SCHEME" = https ] && HOST=localhost
valgrind --tool=callgrind --callgrind-out-file="$RUN/callgrind.out" "$BUILD/warden" serve --config "$RUN/cg.yaml" 2> "$RUN/callgrind.log" & W=$!
trap 'kill $UP 2>/dev/null; kill $W 2>/dev/null || true' EXIT
for _ in $(seq 600); do (echo >/dev/tcp/127.0.0.1/18384) 2>/dev/null && break; sleep 0.2; done  # valgrind starts slowly on a loaded machine
case "$MODE" in
  json|jwt|tls|tls-jwt) body="$HERE/bodies/chat.json"; route=/v1/chat/completions ;;
  stream) body="$HERE/bodies/chat-stream.json"; route=/v1/chat/completions ;;
  messages*) body="$HERE/bodies/$MODE.json"; route=/v1/messages ;;
  responses*) body="$HERE/bodies/$MODE.json"; route=/v1/responses ;;
  *) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
args=()
for _ in $(seq "$N"); do args+=(--next -s -o /dev/null "${CURL_TLS[@]}" -H "Authorization: Bearer $BEARER" -H 'Content-Type: application/json' --data-binary @"$body" "$SCHEME://$HOST:18384$route"); done
[ "$N" -gt 0 ] && curl "${args[@]:1}"
# Start-up and shutdown are in the total too: measure them with zero requests and subtract.
# A background job starts with SIGINT ignored until warden's own handler is installed, which may
# come after the port opens: signal until it exits.
while kill -0 $W 2>/dev/null; do kill -INT $W 2>/dev/null || true; sleep 2; done; wait $W || true
total=$(grep -o 'Collected : [0-9]*' "$RUN/callgrind.log" | grep -o '[0-9]*$' || true)
[ -n "$total" ] || total=$(callgrind_annotate "$RUN/callgrind.out" | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1}')
echo "mode=$MODE requests=$N total_instructions=$total"
callgrind_annotate --inclusive=no "$RUN/callgrind.out" 2>/dev/null | sed -n '/file:function/,$p' | head -25 | cut -c1-160
