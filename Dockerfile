# The app image: one build, run as ROLE=api, ROLE=worker or ROLE=all.
# Build stage: the compiler and the native toolchain live here and nowhere else.
FROM node:24-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 (the embedded event store) compiles from source when no prebuilt binary fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY projections ./projections
COPY scripts ./scripts
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: Node, the production dependencies (better-sqlite3 already built against this
# same Node) and the compiled JavaScript; no compiler, no TypeScript loader.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
# The embedded server's stream browser: static files that tsc does not copy.
COPY --from=build /app/src/embedded-eventstore/web ./dist/src/embedded-eventstore/web
COPY --from=build /app/src/http/docs ./dist/src/http/docs
COPY --from=build /app/dist/projections ./dist/projections
# Operations while the service runs, e.g. `node dist/scripts/projections-rebuild.js mypage`.
COPY --from=build /app/dist/scripts ./dist/scripts
USER node
EXPOSE 3000
# node is PID 1's only process: `docker stop` sends SIGTERM straight to it (main.ts stops cleanly).
CMD ["node", "--enable-source-maps", "dist/src/main.js"]
