# Local stand-in for node:22-slim when no registry is reachable (built by ops/smoke/base-images.sh only).
FROM debian:bookworm-slim
# The host's proxy CA (if any): npm inside builds trusts it through NODE_EXTRA_CA_CERTS; apt uses plain http.
COPY ca/ /usr/local/share/ca-certificates/
# --chmod on COPY, never a later RUN chmod: that would store the 100 MB binary a second time.
COPY --chmod=755 node/bin/node /usr/local/bin/node
COPY node/include/node /usr/local/include/node
COPY npm /usr/local/lib/node_modules/npm
RUN set -eu; \
    ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm; \
    ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx; \
    cat /usr/local/share/ca-certificates/*.crt > /usr/local/share/extra-ca.pem 2>/dev/null || true; \
    groupadd --gid 1000 node; \
    useradd --uid 1000 --gid node --shell /bin/bash --create-home node; \
    node --version; npm --version
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/extra-ca.pem
CMD ["node"]
