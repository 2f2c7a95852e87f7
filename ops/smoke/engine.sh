# Sourced by ops/compose-smoke.sh: the container engine. Installs what is missing from Debian's packages and
# starts a dockerd when none answers; smoke_engine_stop stops only the dockerd this script started.
# shellcheck shell=bash

# /usr/bin/docker (Debian's docker.io) has BuildKit built in; a docker CLI without the buildx plugin (e.g. a
# static 28.x in /usr/local/bin) cannot build a Dockerfile that uses RUN --mount. Prefer Debian's.
SMOKE_DOCKER_BIN=${SMOKE_DOCKER_BIN:-}
SMOKE_STARTED_DOCKERD_PID=

smoke_engine_install() {
  local missing=()
  [ -x /usr/bin/docker ] || missing+=(docker.io containerd runc iptables)
  command -v docker-compose >/dev/null || [ -x /usr/libexec/docker/cli-plugins/docker-compose ] ||
    missing+=(docker-compose)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  SMOKE_DOCKER_BIN=${SMOKE_DOCKER_BIN:-/usr/bin/docker}
}

smoke_engine_start() {
  if "$SMOKE_DOCKER_BIN" info >/dev/null 2>&1; then
    log "docker engine: already running"
    return
  fi
  log "starting dockerd (log: $SMOKE_TMP/dockerd.log)"
  dockerd --storage-driver=overlay2 >"$SMOKE_TMP/dockerd.log" 2>&1 &
  SMOKE_STARTED_DOCKERD_PID=$!
  local i
  for i in $(seq 1 60); do
    "$SMOKE_DOCKER_BIN" info >/dev/null 2>&1 && return
    kill -0 "$SMOKE_STARTED_DOCKERD_PID" 2>/dev/null || break
    sleep 1
  done
  tail -20 "$SMOKE_TMP/dockerd.log" >&2
  fail "dockerd did not start"
}

smoke_engine_stop() {
  [ -n "$SMOKE_STARTED_DOCKERD_PID" ] || return 0
  log "stopping the dockerd this run started (pid $SMOKE_STARTED_DOCKERD_PID)"
  kill "$SMOKE_STARTED_DOCKERD_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 30); do
    kill -0 "$SMOKE_STARTED_DOCKERD_PID" 2>/dev/null || break
    sleep 1
  done
  SMOKE_STARTED_DOCKERD_PID=
}
