#!/usr/bin/env bash
# docker-engine.sh -- COMMAND...: run COMMAND with a Docker engine.
#
# An engine that already answers is used as it is. Otherwise, as root (CI, a fresh Debian machine), this
# installs Debian's docker.io if dockerd is missing, starts dockerd for the command and stops it after,
# whatever the command's outcome. That engine does no NAT and no IP forwarding: its containers reach this
# machine (the stand-in) and nothing beyond it.
set -euo pipefail
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: docker-engine.sh -- COMMAND..." >&2; exit 2; }

if docker info > /dev/null 2>&1; then
  exec "$@"
fi
if [ "$(id -u)" != 0 ]; then
  echo "docker-engine.sh: no Docker engine answers, and only root may start one here: start Docker first" >&2
  exit 2
fi
if ! command -v dockerd > /dev/null; then
  echo "docker-engine.sh: installing docker.io (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq docker.io > /dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq docker.io > /dev/null; }
fi

log="$(mktemp /tmp/eksguard-dockerd.XXXXXX.log)"
dockerd --iptables=false --ip-forward=false --log-level=warn > "$log" 2>&1 &
pid=$!
stop() {
  kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null || true
  rm -f "$log"
  echo "docker-engine.sh: stopped the dockerd it started (pid $pid)"
}
trap stop EXIT
for _ in $(seq 60); do
  docker info > /dev/null 2>&1 && break
  kill -0 "$pid" 2> /dev/null || { cat "$log" >&2; exit 1; }
  sleep 1
done
docker info > /dev/null 2>&1 || { echo "docker-engine.sh: dockerd did not answer in 60 s" >&2; tail -20 "$log" >&2; exit 1; }
echo "docker-engine.sh: started dockerd (pid $pid)"
"$@"
