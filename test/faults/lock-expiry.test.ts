// Scenario 5: a handler slowed from outside (a trigger on the suite's own database that sleeps on one
// community's boost insert; nothing in the service knows) outlives a 1 s lock on replica A; replica B
// takes the expired lock and runs meanwhile. The primary key of webhook_events fences the second run.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import { slowInserts } from '../helpers/triggers.js'
import { lockKey } from '../../services/lvver.js'
import { EVENT_SCOPE as WEBHOOK_SCOPE } from '../../services/inbox.js'
import { Provider, endOf, leaks, printTable, recordedIds, scrape, startCluster, summarise } from './harness.js'

t.setTimeout(240_000)

const SLOW_SECONDS = 4

t.test('lock expiry across replicas: B runs while A still works, exactly one effect, A counts its lost lease', async (t) => {
  const cluster = await startCluster(t, { LOCK_TTL_SECONDS: '1', LOCK_TTL_EXTENDED_SECONDS: '1' })
  const { database, redis, replicas } = cluster
  await slowInserts(database, 'boosts', 'community_id', 'community_slow', SLOW_SECONDS)
  const provider = new Provider(cluster)
  const event = boostPurchaseEvent({ community_id: 'community_slow' })
  const lock = lockKey(WEBHOOK_SCOPE, event.event_id as string)

  const onA = provider.deliver(event, 0)
  // A holds the lease; wait for Redis to expire it (the TTL, not a guess at it), then go to B.
  let seen = false
  for (let i = 0; i < 400 && !seen; i++) {
    seen = await redis.client.exists(lock) === 1
    if (!seen) await sleep(5)
  }
  t.ok(seen, 'A took the lease')
  t.ok(await redis.client.pttl(lock) <= 1000, 'with the 1 s TTL')
  while (await redis.client.exists(lock) === 1) await sleep(10)
  const expiredAt = Date.now()
  const onB = provider.deliver(event, 1)
  const [a, b] = await Promise.all([onA, onB])

  const firstA = a.attempts[0]!
  const firstB = b.attempts[0]!
  t.equal(firstA.replica, 0, 'the first delivery went to A')
  t.equal(firstB.replica, 1, 'the second to B')
  t.ok(endOf(firstA) > expiredAt, 'A was still working when its lease expired')
  t.ok(firstB.start < endOf(firstA), 'B ran while A was still working')
  t.equal(firstB.status, 200, 'B took the expired lease (no 409) and answered 200')
  t.equal(firstA.status, 200, 'A answered 200')
  t.same([firstA.body, firstB.body].map((body) => (body as { status: string }).status).sort(), ['duplicate', 'processed'],
    'one processed it, the other was fenced off as a duplicate')

  const [boosts] = await database.query("select count(*)::int as n from boosts where community_id = 'community_slow'")
  t.equal(boosts?.n, 1, 'exactly one effect')
  t.same([...await recordedIds(database)], [event.event_id], 'one record')
  t.ok(await scrape(replicas[0]!, 'lock_ttl_exhausted_total') >= 1, 'A\'s /metrics counts lock_ttl_exhausted_total')
  t.ok(replicas[0]!.lines.some((line) => line.includes('lock expired before release')), 'and A logged a warning')
  t.same(leaks(cluster), [], 'no secret, token, password or signature in any log line')
  printTable([summarise(`5. lock expiry: TTL 1 s, handler ${SLOW_SECONDS} s on A, same event to B after the TTL`, [a, b])])
})
