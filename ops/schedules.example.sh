#!/usr/bin/env bash
# Example recurring re-index jobs for the distributed pipeline. Copy, edit the sources and times, run once:
# schedules live in Redis (BullMQ job schedulers) and fire in `produce --serve`, so they survive restarts of
# every container; running this again replaces schedules of the same name instead of adding duplicates.
#
#   ops/schedules.example.sh                 # from the folder holding docker-compose.yml, stack running
#
# Cron: minute hour day-of-month month day-of-week, in UTC unless --tz names a zone (e.g. --tz Europe/Berlin).
# Sources: folders as the producer sees them (SKILLS_DIR is mounted at /skills), git URLs, github:owner[/repo].
# Only changed skills are re-embedded, so frequent schedules are cheap; overlapping runs of one source are
# refused, not doubled.
set -euo pipefail

REDIS_URL="${REDIS_URL:-redis://redis:6379}"

# A one-off CLI command on the compose network, in the producer's image and mounts.
sk() { docker compose run --rm --no-deps -T -e REDIS_URL="$REDIS_URL" producer "$@"; }

# Local folders under SKILLS_DIR, every 2 hours at :15.
sk schedule set local-skills --cron '15 */2 * * *' /skills

# The official skills repository on GitHub, every 6 hours (uses GITHUB_TOKEN from .env when set).
sk schedule set anthropic-skills --cron '0 */6 * * *' github:anthropics/skills

# A team's git repository over HTTPS, nightly at 02:30 Berlin time (quiet hours for that team).
sk schedule set team-skills --cron '30 2 * * *' --tz Europe/Berlin git+https://git.example.com/team/skills.git

# Several sources in one schedule (one run): every GitHub owner we track, Mondays at 04:00.
sk schedule set github-owners --cron '0 4 * * 1' github:obra github:anthropics

# What is scheduled now, with the next run of each.
sk schedule list

# To stop one:  sk schedule remove team-skills
