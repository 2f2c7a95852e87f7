#!/usr/bin/env bash
# The compose stack, built and run for real (`npm run compose:smoke`; CI runs it after the tests).
#
#   1. engine: installs docker.io / docker-compose from Debian when missing; starts a dockerd if none answers.
#   2. base images: node:22-slim and redis:7 pulled, or local stand-ins when no registry answers.
#   3. the project image, from its Dockerfile as it is (size printed).
#   4. the stack as an operator drives it: up (+ dashboard and readers profiles), every healthcheck healthy,
#      a backfill of the corpus (bind-mounted as SKILLS_DIR) with faults in the middle of it:
#        - `stop` of a worker exits 0 within its grace;
#        - SIGKILL of a worker, then of the writer, each started again;
#      a snapshot published mid-run; a reader searching the live file and the snapshot all along.
#   5. checks: the run completed; every skill exactly once, the same as an embedded `index` of the same corpus
#      (the expected numbers come from that run, never from this file); integrity_check ok; each role's
#      /metrics shows the run; the dashboard answers 401 without credentials, 200 with them; reader errors 0.
#   6. down -v; the dockerd it started is stopped. Docker's image storage stays (the next run is warm).
#
# Idempotent: a leftover stack of an earlier run is taken down first. Exit 0 only when every check passed; the
# last line of output carries the numbers. Env: SMOKE_CORPUS (default ../shared/corpus/skills), SMOKE_COPIES
# (perturbed copies of it indexed, default 3: the backfill must outlast the faults),
# SMOKE_PROJECT (compose project name, default skillsmith-smoke), SMOKE_KEEP=1 (leave the stack up on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SMOKE_STARTED=$(date +%s)
SMOKE_TMP=$(mktemp -d /tmp/skillsmith-smoke.XXXXXX)
SMOKE_PROJECT=${SMOKE_PROJECT:-skillsmith-smoke}
SMOKE_CORPUS=${SMOKE_CORPUS:-$REPO/../shared/corpus/skills}
SMOKE_IMAGE=skillsmith-indexer:latest

log() { echo "[smoke $(date -u +%H:%M:%S)] $*" >&2; }
fail() {
  echo "[smoke] FAIL: $*" >&2
  exit 1
}

# shellcheck source=ops/smoke/engine.sh
. ops/smoke/engine.sh
# shellcheck source=ops/smoke/base-images.sh
. ops/smoke/base-images.sh
# shellcheck source=ops/smoke/stack.sh
. ops/smoke/stack.sh

[ -d "$SMOKE_CORPUS" ] ||
  fail "no corpus at $SMOKE_CORPUS (set SMOKE_CORPUS)"
SMOKE_CORPUS=$(cd "$SMOKE_CORPUS" && pwd)
SMOKE_COPIES=${SMOKE_COPIES:-3}
[[ "$SMOKE_COPIES" =~ ^[1-9][0-9]*$ ]] || fail "SMOKE_COPIES must be a whole number ≥ 1, got '$SMOKE_COPIES'"

cleanup() {
  local rc=$?
  set +e
  if [ -n "${SMOKE_COMPOSE_READY:-}" ]; then
    if [ "$rc" -ne 0 ]; then
      log "failure: last logs of every service"
      compose --profile dashboard --profile readers logs --no-color --tail 30 >&2 2>/dev/null
    fi
    if [ "$rc" -ne 0 ] && [ "${SMOKE_KEEP:-}" = 1 ]; then
      log "SMOKE_KEEP=1: stack left up (project $SMOKE_PROJECT)"
    else
      compose --profile dashboard --profile readers down -v --remove-orphans >/dev/null 2>&1
    fi
  fi
  [ -n "${SMOKE_BACKFILL_PID:-}" ] && kill "$SMOKE_BACKFILL_PID" 2>/dev/null
  smoke_engine_stop
  rm -rf "$SMOKE_TMP" ${SMOKE_COPIES_DIR:+"$SMOKE_COPIES_DIR"}
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The faults land mid-backfill only if the backfill outlasts them (~10 s of docker commands after the first batch):
# on a fast machine the corpus alone is indexed in ~14 s, so index SMOKE_COPIES perturbed copies of it (names and
# descriptions differ per copy, so nothing dedups; the same copies the bench's scale section builds).
if [ "$SMOKE_COPIES" -gt 1 ]; then
  [ -f dist/bench/scale-corpus.js ] || fail "dist/bench/scale-corpus.js missing: run npm run build first"
  # Its own folder, readable by the image's `node` user (SMOKE_TMP is mode 0700).
  SMOKE_COPIES_DIR=$(mktemp -d /tmp/skillsmith-smoke-corpus.XXXXXX)
  chmod 755 "$SMOKE_COPIES_DIR"
  node --input-type=module -e "
    const { buildScaleCorpus } = await import(process.argv[1]);
    buildScaleCorpus(process.argv[2], process.argv[3], Number(process.argv[4]));" \
    "$REPO/dist/bench/scale-corpus.js" "$SMOKE_CORPUS" "$SMOKE_COPIES_DIR" "$SMOKE_COPIES" ||
    fail "could not build $SMOKE_COPIES copies of $SMOKE_CORPUS"
  chmod -R a+rX "$SMOKE_COPIES_DIR"
  SMOKE_CORPUS=$SMOKE_COPIES_DIR
fi
log "corpus: $(find "$SMOKE_CORPUS" -name SKILL.md | wc -l) SKILL.md files ($SMOKE_COPIES × the corpus)"

export DOCKER_BUILDKIT=1 COMPOSE_DOCKER_CLI_BUILD=1
smoke_engine_install
# docker-compose 1.29 builds through the `docker` on PATH: make it Debian's (BuildKit built in).
mkdir -p "$SMOKE_TMP/bin" && ln -s "$SMOKE_DOCKER_BIN" "$SMOKE_TMP/bin/docker"
export PATH="$SMOKE_TMP/bin:$PATH"
smoke_engine_start
smoke_base_images

t0=$(date +%s)
previous_image=$("$SMOKE_DOCKER_BIN" image inspect -f '{{.Id}}' "$SMOKE_IMAGE" 2>/dev/null || true)
log "building $SMOKE_IMAGE from the Dockerfile (target runtime)"
# nice: the build compiles better-sqlite3 when its prebuilt binary cannot be downloaded (several minutes).
nice -n 10 "$SMOKE_DOCKER_BIN" build --progress=plain --target runtime -t "$SMOKE_IMAGE" . >"$SMOKE_TMP/build.log" 2>&1 ||
  { tail -n 40 "$SMOKE_TMP/build.log" >&2; fail "docker build failed"; }
SMOKE_BUILD_S=$(($(date +%s) - t0))
# The image this build replaced would stay as a dangling 300 MB image on every CI run: remove it (if unused).
if [ -n "$previous_image" ] && [ "$previous_image" != "$("$SMOKE_DOCKER_BIN" image inspect -f '{{.Id}}' "$SMOKE_IMAGE")" ]; then
  "$SMOKE_DOCKER_BIN" image rm "$previous_image" >/dev/null 2>&1 || true
fi
SMOKE_IMAGE_SIZE=$("$SMOKE_DOCKER_BIN" image ls "$SMOKE_IMAGE" --format '{{.Size}}')
log "image built in ${SMOKE_BUILD_S}s: $SMOKE_IMAGE_SIZE"

smoke_stack_run

smoke_engine_stop
total=$(($(date +%s) - SMOKE_STARTED))
echo "compose smoke OK in ${total}s: image $SMOKE_IMAGE_SIZE (built ${SMOKE_BUILD_S}s); indexed $SMOKE_INDEXED rejected $SMOKE_REJECTED (= embedded reference); backfill ${SMOKE_BACKFILL_S}s; worker stop exit 0 in ${SMOKE_STOP_S}s (grace ${SMOKE_GRACE_S}s); SIGKILL worker + writer at $SMOKE_KILL_AT rows, restarted, every skill once; integrity ok; metrics ok; dashboard 401/200; reader ok=$SMOKE_READER_OK errors=0"
