#!/usr/bin/env bash
# Runs streamhub's whole test suite, first installing what the tests need
# from Debian's packages when it is missing. Usage: bash scripts/test.sh [go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)          # EventSource/WebSocket in a real browser
command -v node >/dev/null 2>&1 || need+=(nodejs)              # streamhub.js tests (node --test, clients/js)
command -v python3 >/dev/null 2>&1 || need+=(python3)            # raw TCP peers (standard library only)
command -v mcs >/dev/null 2>&1 || need+=(mono-mcs)               # the seed's C# sender
command -v mono >/dev/null 2>&1 || need+=(mono-runtime)
command -v mosquitto_sub >/dev/null 2>&1 || need+=(mosquitto-clients)  # real MQTT peers
[ -x /usr/sbin/mosquitto ] || need+=(mosquitto)                    # the remote broker of the bridge tests
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)                # media: publishers and readers (ffmpeg, ffprobe)
[ -x /usr/sbin/nats-server ] || need+=(nats-server)               # Debian's NATS (2.9.10 on Debian 12): the cluster runs on it too
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  echo "installing test dependencies: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed on: $unformatted" >&2
  exit 1
fi
go vet ./...
go test -race -timeout 30m "$@" ./...
