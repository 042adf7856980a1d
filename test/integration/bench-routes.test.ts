// The benchmark's ceiling routes exist only behind BENCH_ROUTES=1, and then each does its one piece of work.
import t from 'tap'
import { Redis } from 'ioredis'
import { loadConfig } from '../../config.js'
import { buildTestApp } from '../helpers/app.js'
import { SHARED_REDIS_URL } from '../helpers/env.js'
import { requestKeys } from '../helpers/lvver.js'

const BENCH_ROUTES = ['/bench/noop', '/bench/redis-lock', '/bench/pg-insert']
const body = { filler: 'x'.repeat(1000) }

t.test('BENCH_ROUTES is off unless set to 1', async (t) => {
  t.equal(loadConfig({ PADDLE_WEBHOOK_SECRET: 's' }).benchRoutes, false)
  t.equal(loadConfig({ PADDLE_WEBHOOK_SECRET: 's', BENCH_ROUTES: '0' }).benchRoutes, false)
  t.equal(loadConfig({ PADDLE_WEBHOOK_SECRET: 's', BENCH_ROUTES: '1' }).benchRoutes, true)
  t.throws(() => loadConfig({ PADDLE_WEBHOOK_SECRET: 's', BENCH_ROUTES: 'yes' }), /BENCH_ROUTES/)
})

t.test('by default the ceiling routes are not mounted: 404, and no bench table is created', async (t) => {
  const { app, database } = await buildTestApp(t)
  for (const url of BENCH_ROUTES) {
    const response = await app.inject({ method: 'POST', url, payload: body })
    t.equal(response.statusCode, 404, url)
    t.equal(response.json().error, 'not_found', url)
  }
  t.notOk(app.hasRoute({ method: 'POST', url: '/bench/noop' }))
  const tables = await database.query("select 1 from pg_tables where tablename = 'bench_inserts'")
  t.same(tables, [])
})

t.test('with benchRoutes each ceiling route does its one piece of work', async (t) => {
  const { app, database, config } = await buildTestApp(t, { config: { benchRoutes: true } })
  const probe = new Redis(SHARED_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  t.teardown(() => { probe.disconnect() })
  await probe.connect()

  const noop = await app.inject({ method: 'POST', url: '/bench/noop', payload: body })
  t.equal(noop.statusCode, 200)
  t.same(noop.json(), { ok: true })

  // SET NX PX took the lease (ok: true), the compare-and-delete gave it back: no key is left behind.
  for (let i = 0; i < 3; i++) {
    const lock = await app.inject({ method: 'POST', url: '/bench/redis-lock', payload: body })
    t.equal(lock.statusCode, 200)
    t.same(lock.json(), { ok: true })
  }
  t.same(await requestKeys(probe, config), [], 'no lease outlives its request')

  const before = await database.query<{ n: number }>('select count(*)::int as n from bench_inserts')
  t.same(before, [{ n: 0 }])
  for (let i = 0; i < 2; i++) {
    const insert = await app.inject({ method: 'POST', url: '/bench/pg-insert', payload: body })
    t.equal(insert.statusCode, 200)
    t.same(insert.json(), { ok: true })
  }
  const rows = await database.query<{ payload: unknown }>('select payload from bench_inserts')
  t.equal(rows.length, 2, 'one row per request, each with its own id')
  t.same(rows[0]?.payload, body, 'the parsed body is what was stored')
})

t.test('with benchRoutes the webhook and its guard are unchanged', async (t) => {
  const { app } = await buildTestApp(t, { config: { benchRoutes: true } })
  // Unsigned: still refused; the bench switch opens no door on the real routes.
  const response = await app.inject({ method: 'POST', url: '/billing/webhook', payload: body })
  t.equal(response.statusCode, 401)
})
