#!/usr/bin/env bash
# Who is asking, and what it costs: instructions per chat completion over TLS (callgrind, one
# worker, inspection on) with an API key, a cached token and a client certificate on resumed
# sessions; the first use of a token per signature algorithm; the TLS handshake, full and resumed.
# Each figure is (total of HIGH requests − total of LOW requests) / (HIGH − LOW): start-up,
# shutdown, the first connection and the first verification of a cached token fall out.
# usage: bench/identity.sh [BUILD_DIR]   env: LOW (10) HIGH (210)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="$(cd "${1:-$HERE/../build}" && pwd)"
LOW=${LOW:-10}
HIGH=${HIGH:-210}

declare -A per
measure() {  # name mode [VAR=value...]
  local name=$1 mode=$2 lo hi
  shift 2
  lo=$(env "$@" "$HERE/callgrind.sh" "$BUILD" "$LOW" "$mode" | sed -n 's/.*total_instructions=//p')
  hi=$(env "$@" "$HERE/callgrind.sh" "$BUILD" "$HIGH" "$mode" | sed -n 's/.*total_instructions=//p')
  per[$name]=$(((hi - lo) / (HIGH - LOW)))
  printf '%-22s %10d instructions/request   (%s %s)\n' "$name" "${per[$name]}" "$mode" "$*"
}

measure plain-api-key json
measure tls-api-key tls
measure tls-jwt-cached tls-jwt JWT_ALG=ES256
measure tls-mtls tls-mtls
measure tls-mtls-resumed tls-mtls CONN=resume
measure tls-api-key-resumed tls CONN=resume
measure tls-api-key-full tls CONN=full
measure tls-mtls-full tls-mtls CONN=full
for alg in RS256 PS256 ES256 EdDSA; do
  measure "tls-jwt-each-$alg" tls-jwt JWT_ALG=$alg JWT_TOKENS=each
done

ratio() { python3 -c "print(f'{$1 / $2:.3f}')"; }
echo
echo "cached token / API key (target <= 1.2): $(ratio "${per[tls-jwt-cached]}" "${per[tls-api-key]}")"
echo "mTLS on one connection / API key on one connection: $(ratio "${per[tls-mtls]}" "${per[tls-api-key]}")"
echo "mTLS, a resumed session per request / API key on one connection: $(ratio "${per[tls-mtls-resumed]}" "${per[tls-api-key]}")"
echo "mTLS, a resumed session per request / API key, a resumed session per request: $(ratio "${per[tls-mtls-resumed]}" "${per[tls-api-key-resumed]}")"
echo "TLS on one connection / plain HTTP: $(ratio "${per[tls-api-key]}" "${per[plain-api-key]}")"
echo "handshake and connection, full: $((per[tls-api-key-full] - per[tls-api-key])) instructions; resumed: $((per[tls-api-key-resumed] - per[tls-api-key])); full with a client certificate: $((per[tls-mtls-full] - per[tls-api-key]))"
for alg in RS256 PS256 ES256 EdDSA; do
  echo "first use of a $alg token (verification and caching): $((per[tls-jwt-each-$alg] - per[tls-jwt-cached])) instructions"
done
