// Runs retention (services/retention.ts) about once an hour on every replica; the advisory lock lets one
// of them delete at a time. The first run waits a minute or so after start, spread so that replicas
// started together do not all try at once.
import fp from 'fastify-plugin'
import { runRetention, type RetentionResult } from '../services/retention.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** One retention run now (the scheduler's, and tests' on a fixed clock). */
    runRetention(now?: Date): Promise<RetentionResult>
  }
}

const INTERVAL_MS = 3600_000

export default fp(async function retentionPlugin (app) {
  const { config, metrics, database } = app
  const run = async (now = new Date()) => runRetention({
    database,
    now: () => now,
    eventRetentionDays: config.eventRetentionDays,
    keyRetentionHours: config.idempotencyKeyRetentionHours,
    deleted: (table, rows) => { metrics.retentionDeleted.inc({ table }, rows) }
  })
  app.decorate('runRetention', run)

  let timer: NodeJS.Timeout | undefined
  const schedule = (delayMs: number) => {
    timer = setTimeout(() => {
      run().then((result) => {
        if (result.webhook_events + result.idempotency_keys > 0) app.log.info({ retention: result }, 'retention deleted expired rows')
      }, (err: unknown) => {
        app.log.warn({ err }, 'retention run failed; the next one tries again')
      }).finally(() => { schedule(INTERVAL_MS) })
    }, delayMs)
    timer.unref()
  }
  app.addHook('onReady', async () => { schedule(60_000 + Math.floor(Math.random() * 60_000)) })
  app.addHook('onClose', async () => { clearTimeout(timer) })
}, { name: 'retention', dependencies: ['db', 'metrics'] })
