# billing-webhooks: build with the dev toolchain, ship only production dependencies and dist/.

FROM node:24-bookworm-slim AS build
WORKDIR /app
# Lockfile first, so the dependency layer is reused while only the source changes.
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# No production dependency has an install script, so none is run. --omit=optional leaves out what the
# service never loads: pg-cloudflare (pg uses it on Cloudflare Workers only) and the type definitions that
# drizzle-orm's optional peer @types/pg drags in (@types/pg, @types/node, undici-types).
RUN npm ci --omit=dev --omit=optional --ignore-scripts && npm cache clean --force
# dist/ includes db/migrations and catalog.example.json (copied by npm run build), read at start.
COPY --from=build /app/dist ./dist
# Only used without DATABASE_URL (embedded PGlite); the code stays owned by root, read-only for the app.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 3000
# node itself, because the slim image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live', { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node directly, not npm start: node receives SIGTERM itself and closes with grace.
CMD ["node", "dist/server.js"]
