# The app image: one build, run as ROLE=api, ROLE=worker or ROLE=all.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
# better-sqlite3 (the embedded event store) compiles from source when no prebuilt binary fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY src ./src
COPY projections ./projections
COPY scripts ./scripts
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "src/main.ts"]
