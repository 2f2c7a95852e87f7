#!/bin/sh
# The compose `reader` service (profile `readers`): what a downstream reader does, in a loop. Searches the live
# database (/data/skills.db, mounted read-only) and the latest published snapshot (/snapshots/skills.db) with
# the project's own `search`, and logs `reader: ok=N errors=M` after each round; any failed search is an error.
# Files that do not exist yet (no batch written, nothing published) are skipped, not errors.
query=${READER_QUERY:-review a pull request}
interval=${READER_INTERVAL:-2}
ok=0
errors=0
cd /app || exit 1
while :; do
  for db in /data/skills.db /snapshots/skills.db; do
    [ -f "$db" ] || continue
    if out=$(node dist/bin/skillsmith-index.js search "$query" --db "$db" --k 3 --json 2>&1); then
      ok=$((ok + 1))
      touch /tmp/reader-ok
    else
      errors=$((errors + 1))
      echo "reader: search failed on $db: $(printf '%s' "$out" | tail -n 1)" >&2
    fi
  done
  echo "reader: ok=$ok errors=$errors"
  sleep "$interval"
done
