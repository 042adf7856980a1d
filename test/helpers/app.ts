// Builds the real app for a test: its own Postgres database, the shared Redis under a key prefix of its
// own (or a given Redis), every log line captured for assertions.
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../app.js'
import { loadConfig, type Config } from '../../config.js'
import { freshDatabase, type TestDatabase } from './database.js'
import { SHARED_REDIS_URL, TEST_ADMIN_TOKEN, TEST_SECRET, viaPgBouncer } from './env.js'
import { pgBouncer } from './pgbouncer.js'

interface Teardown { teardown(fn: () => unknown): void }

export interface TestAppOptions {
  /** A Redis URL; `null` for the in-process lock store. Default: the shared local Redis. */
  redisUrl?: string | null
  /** Reuse a database (two app instances sharing one, as two replicas do). */
  database?: TestDatabase
  config?: Partial<Config>
  /** Wait until the Redis client is ready before returning (default: true when Redis is configured). */
  waitForRedis?: boolean
}

export interface TestApp {
  app: FastifyInstance
  database: TestDatabase
  config: Config
  /** Every JSON log line the app wrote. */
  logs: string[]
}

/** A config for tests: the defaults, then the overrides, without reading process.env. */
export function testConfig (overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({ PADDLE_WEBHOOK_SECRET: TEST_SECRET, LOG_LEVEL: 'silent' }), ...overrides }
}

export async function buildTestApp (t: Teardown, options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.database ?? await freshDatabase(t)
  const logs: string[] = []
  const logStream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(line)
      callback()
    }
  })
  const redisUrl = options.redisUrl === undefined ? SHARED_REDIS_URL : options.redisUrl ?? undefined
  const pooled = viaPgBouncer()
    ? { databaseUrl: (await pgBouncer(t)).url(database.url), databasePoolMode: 'transaction' as const }
    : { databaseUrl: database.url }
  const config = testConfig({
    ...pooled,
    redisUrl,
    redisKeyPrefix: `bwtest:${process.pid}:${randomBytes(3).toString('hex')}:`,
    webhookSecrets: [TEST_SECRET],
    adminTokens: [TEST_ADMIN_TOKEN],
    logLevel: 'info',
    databasePoolSize: 5,
    ...options.config
  })
  const app = await buildApp(config, { logStream })
  t.teardown(() => app.close())
  await app.ready()
  if (redisUrl !== undefined && options.waitForRedis !== false) await waitForRedis(app)
  return { app, database, config, logs }
}

/** Resolves once the app's Redis client reports ready (or rejects after `ms`). */
export async function waitForRedis (app: FastifyInstance, ready = true, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (app.lockStore.isReady() !== ready) {
    if (Date.now() > deadline) throw new Error(`redis did not become ${ready ? 'ready' : 'unready'} within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** The value of a counter or gauge, summed over the series that match `labels`. */
export async function metricValue (app: FastifyInstance, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = app.metrics.registry.getSingleMetric(name)
  if (metric === undefined) throw new Error(`no metric ${name}`)
  const { values } = await metric.get()
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want))
    .reduce((sum, v) => sum + v.value, 0)
}
