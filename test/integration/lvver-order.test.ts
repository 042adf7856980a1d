// LVVER step 1 comes first: the lease is taken before anything reads the event's keys in
// Redis and before any statement reaches Postgres; a request that fails authentication touches neither.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { buildTestApp } from '../helpers/app.js'
import { SHARED_REDIS_URL } from '../helpers/env.js'
import { monitorRedis, recordTraffic, type Sent } from '../helpers/observe.js'
import { boostPurchaseEvent, deliver, paddleEvent, paddleId } from '../helpers/paddle.js'
import { startOwnRedis } from '../helpers/redis-server.js'
import { lockKey, markerKey } from '../../services/lvver.js'

const TABLES = ['webhook_events', 'subscriptions', 'boosts', 'badge_purchases', 'idempotency_keys']

/** One line per step of the app's traffic: `redis script:bwAcquire`, `... reply`, `pg webhook_events,boosts`. */
function summary (sent: Sent[]): string[] {
  return sent.map((s) => {
    if (s.system === 'redis') return `redis ${s.command}${s.phase === 'reply' ? ' reply' : ''}`
    const tables = [...new Set([...s.command.matchAll(/(?:insert into|update|from)\s+"?(\w+)"?/gi)].map((m) => m[1]))]
      .filter((name) => TABLES.includes(name ?? ''))
    return `pg ${tables.join(',') || s.command}`
  })
}

t.test('Redis runs SET lock NX PX before any other command on the event, and reads the marker only after it', async (t) => {
  const redis = await startOwnRedis(t)
  const { app, config, database } = await buildTestApp(t, { redisUrl: redis.url })
  // Postgres's own clock for the first row it writes for the event.
  await database.query(`
    create table bw_test_seen (at timestamptz not null default clock_timestamp());
    create function bw_test_seen() returns trigger language plpgsql as $$ begin insert into bw_test_seen default values; return new; end $$;
    create trigger bw_test_seen before insert on boosts for each row execute function bw_test_seen();
    create trigger bw_test_seen before insert on webhook_events for each row execute function bw_test_seen();`)
  const monitor = await monitorRedis(t, redis.url)

  const event = boostPurchaseEvent()
  const id = event.event_id as string
  t.equal((await deliver(app, event)).json().status, 'processed')
  await sleep(100)
  monitor.stop()

  const lock = `${config.redisKeyPrefix}${lockKey('webhook', id)}`
  const marker = `${config.redisKeyPrefix}${markerKey('webhook', id)}`
  const onEvent = monitor.commands.filter(({ args }) => args.slice(1).some((arg) => arg.includes(id)))
  const fromClient = onEvent.filter((c) => c.source !== 'lua').map((c) => c.args[0]?.toLowerCase())
  t.ok(fromClient.length >= 2 && fromClient.every((name) => name === 'evalsha' || name === 'eval'),
    `the app sends nothing on the event's keys but its two scripts (${fromClient.join(', ')})`)
  const ran = onEvent.filter((c) => c.source === 'lua')
  t.same(ran.map((c) => [c.args[0]?.toLowerCase(), c.args[1]]), [
    ['set', lock], ['exists', marker], // acquire: lease first, then the marker
    ['set', marker], ['get', lock], ['del', lock] // release: marker, then compare-and-delete
  ], 'what Redis ran, in order')
  const set = ran[0]
  t.same(set?.args.slice(3).map((a) => a.toUpperCase()), ['NX', 'PX', '60000'], 'SET lock <token> NX PX <ttl>')
  t.equal(ran[3]?.args.length, 2, 'the release compares the lease with GET before deleting it')

  const seen = await database.query<{ at: Date }>('select at from bw_test_seen order by at')
  t.equal(seen.length, 2, 'Postgres saw the boost and the record')
  t.ok(set !== undefined && set.time * 1000 < seen[0]!.at.getTime(), 'the lease was set before Postgres saw anything of the event')
})

t.test('the acquire script is answered before the first Postgres statement is sent, on every path', async (t) => {
  const { app, config } = await buildTestApp(t)
  const other = new Redis(SHARED_REDIS_URL)
  t.teardown(() => other.disconnect())
  // Scripts load on first use (NOSCRIPT, then EVAL); warm up so each path below shows its steady shape.
  await deliver(app, boostPurchaseEvent())
  const traffic = recordTraffic(app)
  const acquire = ['redis script:bwAcquire', 'redis script:bwAcquire reply']
  const release = ['redis script:bwRelease', 'redis script:bwRelease reply']

  const event = boostPurchaseEvent()
  t.equal((await deliver(app, event)).json().status, 'processed')
  t.same(summary(traffic.sent), [...acquire, 'pg webhook_events,boosts', ...release], 'a new event')

  traffic.clear()
  t.equal((await deliver(app, event)).json().status, 'duplicate')
  t.same(summary(traffic.sent), acquire, 'a duplicate the marker knows: no Postgres at all')

  traffic.clear()
  await other.del(`${config.redisKeyPrefix}${markerKey('webhook', event.event_id as string)}`)
  t.equal((await deliver(app, event)).json().status, 'duplicate')
  t.same(summary(traffic.sent), [...acquire, 'pg webhook_events,boosts', ...release], 'a duplicate only Postgres knows')

  traffic.clear()
  const unknown = paddleEvent({ eventType: 'customer.updated', data: { id: paddleId('ctm') } })
  t.equal((await deliver(app, unknown)).json().status, 'ignored')
  t.same(summary(traffic.sent), [...acquire, 'pg webhook_events', ...release], 'an ignored event')

  traffic.clear()
  const held = boostPurchaseEvent()
  await other.set(`${config.redisKeyPrefix}${lockKey('webhook', held.event_id as string)}`, 'another-holder', 'PX', 5000)
  t.equal((await deliver(app, held)).statusCode, 409)
  t.same(summary(traffic.sent), acquire, 'a held lock: no Postgres, no release')
})

t.test('a request that fails the signature or the envelope check sends nothing to Redis or Postgres', async (t) => {
  const { app } = await buildTestApp(t)
  const traffic = recordTraffic(app)
  const event = boostPurchaseEvent()
  const answers = [
    await deliver(app, event, { secret: 'pdl_ntfset_not_ours' }),
    await deliver(app, event, { signature: null }),
    await deliver(app, event, { ts: Math.floor(Date.now() / 1000) - 3600 }),
    await deliver(app, { ...event, event_id: 42 }),
    await deliver(app, '{"event_id": ')
  ]
  t.same(answers.map((a) => a.statusCode), [401, 401, 401, 400, 400])
  t.same(traffic.sent, [], 'no lock taken, nothing read')
})
