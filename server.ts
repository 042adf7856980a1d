// Process entry: load config, build the app, listen, and stop with grace on SIGTERM/SIGINT.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'

function configOrExit (): Config {
  try {
    return loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
}

/** Outside production, an unset secret becomes a development one kept in DATA_DIR, stable across restarts. */
function developmentSecret (config: Config): Config {
  if (!config.webhookSecretGenerated) return config
  const file = join(config.dataDir.includes('://') ? './.data' : config.dataDir, 'dev-webhook-secret')
  let secret: string
  try {
    secret = readFileSync(file, 'utf8').trim()
  } catch {
    secret = config.webhookSecrets[0] ?? ''
    mkdirSync(join(file, '..'), { recursive: true })
    writeFileSync(file, `${secret}\n`, { mode: 0o600 })
  }
  process.stderr.write(
    `PADDLE_WEBHOOK_SECRET is unset: using the development secret in ${file}\n` +
    `  ${secret}\n  (never in production: NODE_ENV=production refuses to start without a secret)\n`
  )
  return { ...config, webhookSecrets: [secret] }
}

/** Builds the app, or exits 1 with one plain line (Postgres unreachable, a failing migration): no stack trace. */
async function appOrExit (config: Config): Promise<FastifyInstance> {
  try {
    return await buildApp(config)
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause
    const detail = cause instanceof Error && cause.message !== '' ? `: ${cause.message}` : ''
    // The first line only: drizzle's message goes on with the failed query's text and parameters.
    const message = (err instanceof Error ? err.message || err.name : String(err)).split('\n')[0]
    process.stderr.write(`Could not start: ${message}${detail}\n`)
    process.exit(1)
  }
}

const config = developmentSecret(configOrExit())
const app = await appOrExit(config)

closeWithGrace({ delay: config.shutdownGraceMs }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'stopping after an uncaught error')
  else app.log.info({ signal }, 'stopping: readiness is 503, in-flight requests finish')
  // Readiness turns 503 and every answer from now on closes its connection (plugins/lifecycle.ts).
  app.lifecycle.shuttingDown = true
  if (config.shutdownDelayMs > 0) await sleep(config.shutdownDelayMs)
  await app.close()
  app.log.info('stopped')
})

try {
  await app.listen({ port: config.port, host: config.host })
} catch (err) {
  app.log.fatal({ err }, 'could not listen')
  process.exit(1)
}
