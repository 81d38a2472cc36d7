#!/usr/bin/env bash
# Idle crypto/tls connections on the park prototype (issue 29): what an idle,
# parked server connection keeps, under each TLS choice the server or the
# client makes. One JSON line per variant and round (bench/idleproto/client,
# with the park prototype's debug address: heap in use per connection and
# the RSS after debug.FreeOSMemory besides the RSS growth).
#
#   bash bench/idleproto/tls-variants.sh [rounds] [connections] > tls-variants.jsonl
#   VARIANTS="base x25519" bash bench/idleproto/tls-variants.sh 2 15000
#   PROFILE=DIR bash bench/idleproto/tls-variants.sh 1 15000   # exact heap profiles (MemProfileRate=1) into DIR
#
# "dropbufs" is a diagnostic, not a remedy: it zeroes crypto/tls's private
# read buffers through unsafe before parking, to measure what they cost.
set -euo pipefail
cd "$(dirname "$0")"
rounds=${1:-1} n=${2:-15000}
declare -A server client senv cenv
server=([base]="" [x25519]="" [tls12]="" [rsa]="-cert rsa" [chacha]="" [notickets]="-notickets"
  [readcap]="-readcap 512" [gogc10]="" [dropbufs]="-dropbufs" [x25519-dropbufs]="-dropbufs"
  [x25519-chacha-dropbufs]="-dropbufs" [x25519-chacha]="" [x25519-gogc10]="" [x25519-chacha-gogc10]="" [splithello]="-splithello 512" [splithello-gogc10]="-splithello 512")
client=([x25519]="-curve x25519" [tls12]="-tlsmax 1.2" [x25519-dropbufs]="-curve x25519"
  [x25519-chacha-dropbufs]="-curve x25519" [x25519-chacha]="-curve x25519" [x25519-gogc10]="-curve x25519"
  [x25519-chacha-gogc10]="-curve x25519")
senv=([gogc10]="GOGC=10" [splithello-gogc10]="GOGC=10" [x25519-gogc10]="GOGC=10" [x25519-chacha-gogc10]="GOGC=10")
cenv=([chacha]="GODEBUG=cpu.aes=off" [x25519-chacha-dropbufs]="GODEBUG=cpu.aes=off" [x25519-chacha]="GODEBUG=cpu.aes=off"
  [x25519-chacha-gogc10]="GODEBUG=cpu.aes=off")
variants=${VARIANTS:-base x25519 tls12 rsa chacha notickets readcap gogc10 dropbufs x25519-dropbufs x25519-chacha-dropbufs x25519-chacha x25519-gogc10 x25519-chacha-gogc10 splithello splithello-gogc10}
for round in $(seq "$rounds"); do
  for v in $variants; do
    flags=${server[$v]:-}
    [ -n "${PROFILE:-}" ] && flags+=" -memprofilerate 1"
    TLS=1 ONLY=park DEBUG=1 HEAP=${PROFILE:-} LABEL="-$v" SERVER_FLAGS="$flags" CLIENT_FLAGS="${client[$v]:-}" \
      SERVER_ENV="${senv[$v]:-}" CLIENT_ENV="${cenv[$v]:-}" bash ./run.sh 1 "$n" | sed "s/\"round\":1,/\"round\":$round,/"
  done
done
