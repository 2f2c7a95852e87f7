# Sourced by ops/compose-smoke.sh: the stack as an operator drives it, with faults mid-backfill, and the checks.
# shellcheck shell=bash

SMOKE_WORKERS=2

# `docker compose` (v2) when the engine has it, else docker-compose 1.29: the compose file works with both.
compose() {
  if [ -z "${SMOKE_COMPOSE:-}" ]; then
    if "$SMOKE_DOCKER_BIN" compose version >/dev/null 2>&1; then
      SMOKE_COMPOSE="$SMOKE_DOCKER_BIN compose"
    else
      SMOKE_COMPOSE=docker-compose
    fi
  fi
  # shellcheck disable=SC2086 # SMOKE_COMPOSE is one or two words
  $SMOKE_COMPOSE -f "$REPO/docker-compose.yml" -p "$SMOKE_PROJECT" "$@"
}
dk() { "$SMOKE_DOCKER_BIN" "$@"; }

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

free_port() {
  node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })"
}

# The sum of one metric (every label set) on a role's /metrics, read inside its container.
metric() {
  dk exec "$1" node -e "
    fetch('http://127.0.0.1:9464/metrics').then((r) => r.text()).then((t) => {
      let sum = 0;
      for (const line of t.split('\n'))
        if (line.startsWith(process.argv[1] + '{') || line.startsWith(process.argv[1] + ' '))
          sum += Number(line.split(' ').pop());
      console.log(sum);
    }, () => console.log(-1));" "$2"
}

# Every container of the project healthy (or fail on unhealthy / exited).
wait_healthy() {
  local deadline=$(($(date +%s) + ${1:-240})) cid state pending
  while :; do
    pending=0
    for cid in $(compose --profile dashboard --profile readers ps -q); do
      state=$(dk inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$cid")
      case "$state" in
        *" running healthy" | *" running none") ;;
        *" running starting") pending=$((pending + 1)) ;;
        *) fail "service not healthy: $state" ;;
      esac
    done
    [ "$pending" -eq 0 ] && return 0
    [ "$(date +%s)" -lt "$deadline" ] || fail "services still starting after ${1:-240}s"
    sleep 3
  done
}

backfill_running() { kill -0 "$SMOKE_BACKFILL_PID" 2>/dev/null; }

# Waits until the writer has written more than $1 rows (fails if the backfill ends first).
wait_rows_above() {
  local deadline=$(($(date +%s) + 600)) rows
  while :; do
    rows=$(metric "$(compose ps -q writer)" skillsmith_writer_rows_total 2>/dev/null || echo -1)
    if [ "${rows%.*}" -gt "$1" ] 2>/dev/null; then
      echo "${rows%.*}"
      return 0
    fi
    backfill_running || fail "the backfill ended before the faults could be injected (rows $rows)"
    [ "$(date +%s)" -lt "$deadline" ] || fail "no progress: writer rows still $rows"
    sleep 1
  done
}

smoke_stack_run() {
  export SKILLS_DIR="$SMOKE_CORPUS"
  export MODELS_DIR="$SMOKE_TMP/models"
  mkdir -p "$MODELS_DIR"
  export REDIS_PASSWORD SKILLSMITH_DASHBOARD_USER=smoke SKILLSMITH_DASHBOARD_PASSWORD DASHBOARD_PORT
  REDIS_PASSWORD=$(random_hex 16)
  SKILLSMITH_DASHBOARD_PASSWORD=$(random_hex 12)
  DASHBOARD_PORT=$(free_port)
  export LOG_LEVEL=info READER_INTERVAL=1 READER_QUERY='review a pull request'
  local grace
  grace=$(grep -m 1 -oE 'stop_grace_period: [0-9]+s' "$REPO/docker-compose.yml" | grep -oE '[0-9]+')
  SMOKE_GRACE_S=${grace:-75}

  # A stack left by an interrupted earlier run: take it down first (idempotent).
  compose --profile dashboard --profile readers down -v --remove-orphans >/dev/null 2>&1 || true
  SMOKE_COMPOSE_READY=1
  log "compose: $(compose version --short 2>/dev/null || compose version | head -n 1)"
  log "up: redis, writer, $SMOKE_WORKERS workers, producer, dashboard, reader (REDIS_PASSWORD set)"
  compose --profile dashboard --profile readers up -d --no-build --scale worker=$SMOKE_WORKERS >"$SMOKE_TMP/up.log" 2>&1 ||
    { cat "$SMOKE_TMP/up.log" >&2; fail "compose up failed"; }
  wait_healthy 300
  log "every service healthy"

  local t0 t1
  t0=$(date +%s)
  compose run --rm --no-deps -T producer backfill /skills --follow --json --redis redis://redis:6379 \
    >"$SMOKE_TMP/backfill.json" 2>"$SMOKE_TMP/backfill.err" &
  SMOKE_BACKFILL_PID=$!
  log "backfill of the corpus started; waiting for the first batch"
  local rows
  rows=$(wait_rows_above 0)
  log "first batch written ($rows rows): publishing a snapshot mid-run"
  compose exec -T writer skillsmith-index publish --db /data/skills.db --to /snapshots/skills.db --json \
    >"$SMOKE_TMP/publish1.json" || fail "publish mid-run failed"

  # Fault 1: a graceful stop of one worker, mid-run.
  local workers w0 w1 t code
  mapfile -t workers < <(compose ps -q worker | sort)
  [ "${#workers[@]}" -eq "$SMOKE_WORKERS" ] || fail "expected $SMOKE_WORKERS workers, found ${#workers[@]}"
  w0=${workers[0]} w1=${workers[1]}
  t=$(date +%s%N)
  dk stop -t "$SMOKE_GRACE_S" "$w0" >/dev/null
  SMOKE_STOP_S=$(node -e "console.log(((process.argv[1] - process.argv[2]) / 1e9).toFixed(1))" "$(date +%s%N)" "$t")
  code=$(dk inspect -f '{{.State.ExitCode}}' "$w0")
  [ "$code" = 0 ] || fail "stop of a worker: exit $code (expected 0)"
  node -e "process.exit($SMOKE_STOP_S < $SMOKE_GRACE_S ? 0 : 1)" || fail "worker stop took ${SMOKE_STOP_S}s (grace ${SMOKE_GRACE_S}s)"
  log "stop of a worker: exit 0 in ${SMOKE_STOP_S}s (grace ${SMOKE_GRACE_S}s)"
  dk start "$w0" >/dev/null

  # Fault 2: SIGKILL of the other worker (jobs in flight are lost with it: BullMQ's stalled check retries them).
  dk kill -s KILL "$w1" >/dev/null
  code=$(dk inspect -f '{{.State.ExitCode}}' "$w1")
  log "SIGKILL of a worker: exit $code; starting it again"
  dk start "$w1" >/dev/null

  # Fault 3: SIGKILL of the writer once more has been written, with the backfill still running.
  rows=$(wait_rows_above "$rows")
  backfill_running || fail "the backfill ended before the writer could be killed"
  SMOKE_KILL_AT=$rows
  local writer
  writer=$(compose ps -q writer)
  dk kill -s KILL "$writer" >/dev/null
  log "SIGKILL of the writer at $rows rows; starting it again"
  dk start "$writer" >/dev/null

  log "waiting for the backfill to complete"
  local deadline=$(($(date +%s) + 1200))
  while backfill_running; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "backfill not complete after 20 minutes"
    sleep 2
  done
  wait "$SMOKE_BACKFILL_PID" || { cat "$SMOKE_TMP/backfill.err" >&2; fail "backfill --follow failed"; }
  SMOKE_BACKFILL_PID=
  t1=$(date +%s)
  SMOKE_BACKFILL_S=$((t1 - t0))
  log "backfill done in ${SMOKE_BACKFILL_S}s: $(tail -n 1 "$SMOKE_TMP/backfill.json")"
  wait_healthy 120

  compose exec -T writer skillsmith-index publish --db /data/skills.db --to /snapshots/skills.db --json \
    >"$SMOKE_TMP/publish2.json" || fail "publish after the run failed"

  # /metrics of every role shows the run (the restarted processes count from their restart).
  local producer_jobs writer_jobs embedded=0 n
  producer_jobs=$(metric "$(compose ps -q producer)" skillsmith_jobs_processed_total)
  writer_jobs=$(metric "$(compose ps -q writer)" skillsmith_jobs_processed_total)
  for w in $(compose ps -q worker); do
    n=$(metric "$w" skillsmith_texts_embedded_total)
    embedded=$(node -e "console.log($embedded + $n)")
  done
  log "metrics: producer jobs $producer_jobs, writer jobs $writer_jobs, workers embedded $embedded"
  node -e "process.exit($producer_jobs > 0 && $writer_jobs > 0 && $embedded > 0 ? 0 : 1)" ||
    fail "a role's /metrics does not show the run"

  # The dashboard: 401 without credentials, 200 with them (from the host, through the published port).
  local codes
  codes=$(node -e "
    const url = 'http://127.0.0.1:' + process.env.DASHBOARD_PORT + '/';
    const auth = 'Basic ' + Buffer.from(process.env.SKILLSMITH_DASHBOARD_USER + ':' + process.env.SKILLSMITH_DASHBOARD_PASSWORD).toString('base64');
    Promise.all([fetch(url), fetch(url, { headers: { authorization: auth } })]).then(
      (r) => console.log(r.map((x) => x.status).join('/')), (e) => console.log('error ' + e.message));")
  [ "$codes" = 401/200 ] || fail "dashboard: $codes (expected 401/200)"
  log "dashboard: $codes"

  # The reader: searched the live file and the snapshots while the writer wrote, without one error.
  sleep 3
  local reader_logs last
  reader_logs=$(compose --profile readers logs --no-color reader 2>&1)
  last=$(printf '%s\n' "$reader_logs" | grep -oE 'reader: ok=[0-9]+ errors=[0-9]+' | tail -n 1)
  printf '%s\n' "$reader_logs" | grep 'search failed' | head -n 5 >&2 || true
  SMOKE_READER_OK=$(printf '%s' "$last" | sed -E 's/.*ok=([0-9]+).*/\1/')
  [ -n "$last" ] && [ "${last##*errors=}" = 0 ] && [ "${SMOKE_READER_OK:-0}" -gt 0 ] ||
    fail "reader: ${last:-no output}"
  log "$last"

  # Every skill exactly once, as an embedded `index` of the same corpus writes it; integrity_check ok.
  log "reference: embedded index of the same corpus, and the comparison"
  local check
  check=$(compose run --rm --no-deps -T -v "$SMOKE_CORPUS:/skills:ro" -v "$REPO/ops/smoke:/app/ops-smoke:ro" \
    --entrypoint sh writer -c 'node dist/bin/skillsmith-index.js index /skills --db /tmp/reference.db --json --no-progress >/dev/null 2>/tmp/ref.err || { tail -n 5 /tmp/ref.err; exit 1; }; node ops-smoke/check-index.mjs /data/skills.db /tmp/reference.db') ||
    fail "database check: $check"
  log "check: $check"
  SMOKE_INDEXED=$(node -e "console.log(JSON.parse(process.argv[1]).indexed)" "$check")
  SMOKE_REJECTED=$(node -e "console.log(JSON.parse(process.argv[1]).rejected)" "$check")
  # The backfill's own summary agrees with the database.
  node -e "
    const lines = require('fs').readFileSync(process.argv[1], 'utf8').trim().split('\n');
    const r = JSON.parse(lines.at(-1));
    const c = r.summary?.counts ?? r.counts;
    const ok = c.indexed === +process.argv[2] && c.failed === +process.argv[3];
    if (!ok) { console.error('backfill summary ' + JSON.stringify(r) + ' differs from the database'); process.exit(1); }
  " "$SMOKE_TMP/backfill.json" "$SMOKE_INDEXED" "$SMOKE_REJECTED" || fail "backfill summary"

  compose --profile dashboard --profile readers down -v --remove-orphans >/dev/null 2>&1 || fail "down -v failed"
  SMOKE_COMPOSE_READY=
  log "down -v: stack and volumes removed"
}
