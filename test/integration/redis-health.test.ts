// Redis judged by results: a hung server (SIGSTOP) and a read-only one (REPLICAOF) keep the client `ready`,
// yet must close the lock routes within 1 s, show on redis_up and /health/security, and reopen by themselves.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, metricValue } from '../helpers/app.js'
import { boostPurchaseEvent, deliver } from '../helpers/paddle.js'
import { startOwnRedis } from '../helpers/redis-server.js'

/** Milliseconds until the guard's flag reads `ready` (or throws after `ms`). */
async function timeUntil (app: FastifyInstance, ready: boolean, ms: number): Promise<number> {
  const started = performance.now()
  while (app.lockStore.isReady() !== ready) {
    if (performance.now() - started > ms) throw new Error(`the guard did not turn ${ready ? 'open' : 'closed'} within ${ms} ms`)
    await sleep(5)
  }
  return performance.now() - started
}

const transitions = (logs: string[]) => logs.filter((line) => /redis (unhealthy|healthy|unavailable)/.test(line)).map((line) => {
  const { msg, reason, after } = JSON.parse(line) as { msg: string, reason?: string, after?: string }
  return `${msg.split(':')[0]} ${reason ?? after ?? ''}`.trim()
})

t.test('one Redis, hung then read-only: the client stays ready, the guard closes within 1 s and reopens by itself', async (t) => {
  const redis = await startOwnRedis(t)
  const other = await startOwnRedis(t)
  const { app, logs } = await buildTestApp(t, { redisUrl: redis.url })
  t.equal((await deliver(app, boostPurchaseEvent())).json().status, 'processed', 'healthy at first')

  t.test('SIGSTOP: closed within 1 s, 503, redis_up 0, /health/security 503 with the reason; the queue stays small', async (t) => {
    redis.pause()
    t.teardown(() => { redis.resume() })
    const closedIn = await timeUntil(app, false, 1000)
    t.ok(closedIn <= 1000, `closed ${Math.round(closedIn)} ms after SIGSTOP`)
    t.equal(app.redis?.status, 'ready', 'while ioredis still said ready when it closed (or reconnects now)')

    const refused = await deliver(app, boostPurchaseEvent())
    t.equal(refused.statusCode, 503)
    t.equal(refused.headers['retry-after'], '30')
    t.equal(await metricValue(app, 'redis_up'), 0, 'redis_up 0')
    const security = await app.inject({ url: '/health/security' })
    t.equal(security.statusCode, 503)
    t.match(security.json(), { status: 'degraded', checks: { topology: 'standalone', reason: 'timeout' } })
    t.equal(await metricValue(app, 'redis_unhealthy_total', { reason: 'timeout' }), 1, 'one trip, counted by reason')

    // Heartbeats keep failing for 3 s; the reset keeps the client's queue from growing with them.
    const pending: number[] = []
    for (let i = 0; i < 30; i++) {
      await sleep(100)
      pending.push(await metricValue(app, 'redis_pending_commands'))
    }
    // What remains is the reconnection's own handshake (CLIENT SETNAME, CLIENT SETINFO, INFO), never more.
    t.ok(Math.max(...pending) <= 5, `at most a few commands held (${pending.join(' ')}), however long the stall`)
    t.equal(app.lockStore.isReady(), false, 'still closed')

    redis.resume()
    const openIn = await timeUntil(app, true, 5000)
    t.ok(openIn <= 5000, `open again ${Math.round(openIn)} ms after SIGCONT`)
    t.equal(await metricValue(app, 'redis_up'), 1)
    t.equal((await app.inject({ url: '/health/security' })).statusCode, 200)
    t.equal((await deliver(app, boostPurchaseEvent())).json().status, 'processed', 'the same app processes again')
  })

  t.test('REPLICAOF another server: READONLY closes the guard within 1 s; REPLICAOF NO ONE reopens it', async (t) => {
    await redis.client.call('REPLICAOF', '127.0.0.1', String(other.port))
    t.teardown(async () => { await redis.client.call('REPLICAOF', 'NO', 'ONE') })
    const closedIn = await timeUntil(app, false, 1000)
    t.ok(closedIn <= 1000, `closed ${Math.round(closedIn)} ms after REPLICAOF`)
    t.equal((await deliver(app, boostPurchaseEvent())).statusCode, 503)
    t.match((await app.inject({ url: '/health/security' })).json(), { status: 'degraded', checks: { reason: 'readonly' } })

    await redis.client.call('REPLICAOF', 'NO', 'ONE')
    const openIn = await timeUntil(app, true, 5000)
    t.ok(openIn <= 5000, `open again ${Math.round(openIn)} ms after REPLICAOF NO ONE`)
    t.equal((await deliver(app, boostPurchaseEvent())).json().status, 'processed')
  })

  t.test('each transition is logged once, with its reason', async (t) => {
    t.same(transitions(logs), ['redis healthy starting', 'redis unhealthy timeout', 'redis healthy timeout', 'redis unhealthy readonly', 'redis healthy readonly'])
  })
})
