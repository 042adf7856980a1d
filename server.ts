// Process entry: load config, build the app, listen, and stop with grace on SIGTERM/SIGINT.
import { setTimeout as sleep } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { startErrorLine } from './services/start-error.js'

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

/** A made-up development secret is printed so that a developer can sign by hand; never in production. */
function announceDevelopmentSecret (config: Config): void {
  if (config.developmentSecret === undefined) return
  const where = config.developmentSecret === 'memory' ? 'for this process only: DATA_DIR is not writable' : `kept in ${config.developmentSecret}`
  process.stderr.write(
    `PADDLE_WEBHOOK_SECRET is unset: using a development secret, ${where}\n` +
    `  ${config.webhookSecrets[0] ?? ''}\n  (never in production: NODE_ENV=production refuses to start without a secret)\n`
  )
}

/** Builds the app, or exits 1 with one plain line (Postgres unreachable, a failing migration): no stack trace. */
async function appOrExit (config: Config): Promise<FastifyInstance> {
  try {
    return await buildApp(config)
  } catch (err) {
    process.stderr.write(`Could not start: ${startErrorLine(err)}\n`)
    process.exit(1)
  }
}

const config = configOrExit()
announceDevelopmentSecret(config)
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
  process.stderr.write(`Could not start: ${startErrorLine(err)}\n`)
  process.exit(1)
}
