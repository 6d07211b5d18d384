# matric-realtime: one process, embedded SQLite in the /data volume.
#   docker build -t matric-realtime .
#   docker run -p 3000:3000 -v matric-data:/data matric-realtime
# On first start the service generates its JWT secret in /data and prints a local admin token on stderr
# (docker logs). Mint more with: docker exec <container> bun scripts/token.ts --sub alice --scope "read write"

# Dependencies exactly as package-lock.json pins them (`npm ci`), production only. Install scripts are
# skipped: no runtime dependency needs one (the only one, @scarf/scarf under swagger-ui-dist, is analytics).
# No dependency is native, so the tree copies across to the Bun image unchanged.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM oven/bun:1.4.5-slim
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    MATRIC_DATA_DIR=/data
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
# The image's non-root `bun` user owns the data volume (SQLite file, generated secret).
RUN mkdir -p /data && chown bun:bun /data
USER bun
VOLUME /data
EXPOSE 3000
# bun itself is the HTTP client: no curl/wget in the slim image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["bun", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM: stop accepting, drain the worker, close sockets with 1012, then the store.
STOPSIGNAL SIGTERM
CMD ["bun", "src/index.ts"]
