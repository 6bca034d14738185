# Key2OAuth as a container image (docs/production.md). Build: podman build -t key2oauth .   (or docker build)
# Run:   podman run -d -p 8080:8080 -v key2oauth-data:/data -e PUBLIC_URL=https://mcp.example.com key2oauth
# The image runs the TypeScript in src/ by Node 24's type stripping (the app is not under
# node_modules, where Node would refuse to), so it needs no build step and carries no compiler.

# Stage 1: the runtime dependencies only, exactly as package-lock.json pins them.
FROM docker.io/library/node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# Behind a TLS-inspecting proxy, name its CA bundle (mounted into the build) with
# --build-arg NODE_EXTRA_CA_CERTS=/path; unset, npm trusts the usual public CAs.
ARG NODE_EXTRA_CA_CERTS
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error

# Stage 2: Node, those dependencies, the source; no npm cache, no dev tools' files.
FROM docker.io/library/node:24-bookworm-slim
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
# /data holds the SQLite database and the generated deployment secret: the one place the app
# writes, so the root filesystem can be read-only (--read-only). Owned by the unprivileged user.
RUN mkdir /data && chown node:node /data
VOLUME /data
USER node
ENV DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=8080
EXPOSE 8080
# Liveness: the process answers. Readiness (its store answers) is /readyz, for balancers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node is PID 1 and handles SIGTERM itself: open streams get their grace period, then it exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/key2oauth.js"]
CMD ["serve"]
