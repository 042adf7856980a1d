// Readiness asks Postgres on a connection of its own: a shared pool saturated by slow queries is busy, not
// down, and must not take every replica out of the Service at once; Postgres (or the pooler) gone is down.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import type pg from 'pg'
import { buildTestApp } from '../helpers/app.js'
import { freshDatabase } from '../helpers/database.js'
import { pgBouncer } from '../helpers/pgbouncer.js'

const SLOW_SECONDS = 2

/** Fills the app's pool with slow queries, and one more that waits for a connection. */
function saturate (app: FastifyInstance, size: number): Promise<unknown> {
  return Promise.allSettled(Array.from({ length: size + 1 }, () => app.database.db.execute(sql.raw(`select pg_sleep(${SLOW_SECONDS})`))))
}

const poolOf = (app: FastifyInstance) => (app.database.db as unknown as { $client: pg.Pool }).$client

async function readyWhile (app: FastifyInstance, size: number) {
  const slow = saturate(app, size)
  await sleep(300)
  const pool = poolOf(app)
  const saturated = { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }
  const ready = await app.inject({ url: '/health/ready' })
  return { saturated, ready, slow }
}

t.test('directly: readiness stays 200 while the pool is saturated, and turns 503 when Postgres refuses us', async (t) => {
  const { app, database } = await buildTestApp(t, { config: { databasePoolSize: 2 } })
  const { saturated, ready, slow } = await readyWhile(app, 2)
  t.same(saturated, { total: 2, idle: 0, waiting: 1 }, 'every pooled connection busy, a query waiting for one')
  t.same([ready.statusCode, ready.json()], [200, { status: 'ok', checks: { database: 'ok', migrations: 'applied' } }])
  await slow

  await database.admin(`alter database ${database.name} allow_connections false`)
  t.teardown(() => database.admin(`alter database ${database.name} allow_connections true`))
  await database.admin('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database.name])
  const down = await app.inject({ url: '/health/ready' })
  t.same([down.statusCode, down.json().checks], [503, { database: 'unreachable', migrations: 'applied' }])
})

t.test('through PgBouncer: 200 while the pool is saturated, 503 while PgBouncer is gone, 200 when it is back', async (t) => {
  const database = await freshDatabase(t)
  // More server connections than the app's pool: the pooler itself is not the bottleneck here.
  const bouncer = await pgBouncer(t, { poolSize: 6 })
  const { app } = await buildTestApp(t, {
    database,
    config: { databaseUrl: bouncer.url(database.url), databasePoolMode: 'transaction', databasePoolSize: 2 }
  })
  const { saturated, ready, slow } = await readyWhile(app, 2)
  t.same(saturated, { total: 2, idle: 0, waiting: 1 })
  t.equal(ready.statusCode, 200, 'ready while the pool is saturated')
  await slow

  await bouncer.stop()
  const down = await app.inject({ url: '/health/ready' })
  t.same([down.statusCode, down.json().checks], [503, { database: 'unreachable', migrations: 'applied' }], 'PgBouncer gone: 503')
  await bouncer.start()
  let back = 0
  for (let i = 0; i < 50 && back !== 200; i++) {
    back = (await app.inject({ url: '/health/ready' })).statusCode
    if (back !== 200) await sleep(100)
  }
  t.equal(back, 200, 'ready again with no restart')
})
