// Scenario 6: SIGTERM to one of three replicas in the middle of a burst. Its in-flight requests finish,
// its closed port refuses the rest (which the client sends to the next replica), it exits 0, and it
// leaves no lock behind; the other two take over.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import { slowInserts } from '../helpers/triggers.js'
import {
  Provider, attemptsOf, badErrorBodies, isHttp, leaks, lockKeys, printTable, recordedIds, startCluster, summarise
} from './harness.js'

t.setTimeout(240_000)

const GRACE_MS = 20_000
const SLOW_SECONDS = 1.5
const SLOW_EVENTS = 4

t.test('graceful stop under load: no 5xx from the stopped replica, exit 0, no lock left, the others take over', async (t) => {
  const cluster = await startCluster(t, { SHUTDOWN_GRACE_MS: String(GRACE_MS) })
  const { database, redis, replicas } = cluster
  // A few events whose boost insert sleeps (a trigger on the suite's database), sent to the replica that
  // will be stopped: work certainly under way inside a transaction when SIGTERM arrives.
  await slowInserts(database, 'boosts', 'community_id', 'community_stop_slow', SLOW_SECONDS)
  const provider = new Provider(cluster)
  const events = Array.from({ length: 600 }, () => boostPurchaseEvent({ community_id: 'community_stop' }))
  const burst = provider.deliverAll(events, 30)

  await provider.answered(150)
  const stopped = replicas[0]!
  const slow = Array.from({ length: SLOW_EVENTS }, () => provider.deliver(boostPurchaseEvent({ community_id: 'community_stop_slow' }), 0))
  let sleeping = 0
  for (let i = 0; i < 400 && sleeping < SLOW_EVENTS; i++) {
    const [row] = await database.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where datname = $1 and application_name = 'billing-webhooks' and wait_event = 'PgSleep'", [database.name])
    sleeping = row?.n ?? 0
    if (sleeping < SLOW_EVENTS) await sleep(10)
  }
  t.equal(sleeping, SLOW_EVENTS, `${SLOW_EVENTS} slow webhooks are inside their transactions on the replica to stop`)
  const stoppedAt = Date.now()
  stopped.signal('SIGTERM')
  const code = await stopped.exited
  const exitedAt = Date.now()
  const slowDeliveries = await Promise.all(slow)
  const deliveries = [...await burst, ...slowDeliveries]

  t.equal(code, 0, 'the stopped replica exited 0')
  t.ok(exitedAt - stoppedAt < GRACE_MS, `within the grace period (${exitedAt - stoppedAt} ms)`)
  t.ok(stopped.lines.some((line) => line.includes('"msg":"stopped"')), 'it logged a clean stop')

  t.same(slowDeliveries.map((d) => [d.attempts[0]?.status, d.final?.json.status]), slowDeliveries.map(() => [200, 'processed']),
    'the slow webhooks under way at SIGTERM finished on the stopping replica: 200 processed')

  // The stopped replica's own account: every request it received got its answer, and none was a 5xx.
  const logs = stopped.lines.flatMap((line) => { try { return [JSON.parse(line) as Record<string, unknown>] } catch { return [] } })
  const stopLine = logs.findIndex((l) => String(l.msg).startsWith('stopping'))
  const received = logs.filter((l) => l.msg === 'incoming request').map((l) => l.reqId)
  const completed = new Map(logs.filter((l) => l.msg === 'request completed').map((l) => [l.reqId, (l.res as { statusCode: number }).statusCode]))
  const openAtStop = new Set(logs.slice(0, stopLine).filter((l) => l.msg === 'incoming request').map((l) => l.reqId))
  for (const l of logs.slice(0, stopLine)) if (l.msg === 'request completed') openAtStop.delete(l.reqId)
  t.ok(stopLine > 0 && openAtStop.size >= SLOW_EVENTS, `it had ${openAtStop.size} requests under way when the stop began`)
  t.same(received.filter((id) => !completed.has(id)), [], 'each request it received was answered')
  t.same([...completed.values()].filter((status) => status >= 500), [], 'none with a 5xx')

  const attempts = attemptsOf(deliveries)
  const onStopped = attempts.filter((a) => a.replica === 0)
  t.same(onStopped.filter((a) => isHttp(a.status) && a.status >= 500).map((a) => a.status), [], 'the client saw no 5xx from it either')
  const refused = onStopped.filter((a) => !isHttp(a.status))
  t.ok(refused.length > 0, `requests after the stop found its port closed (${refused.length}: ${[...new Set(refused.map((a) => a.status))].join(', ')})`)
  t.same(attempts.filter((a) => a.replica !== 0 && a.status !== 200).map((a) => a.status), [], 'the other replicas answered 200 to everything')
  t.ok(attempts.filter((a) => a.replica !== 0 && a.start > stoppedAt).length > 100, 'and took over the load once the stop began')
  t.same(badErrorBodies(deliveries), [], 'every refusal is { error, message }')

  // Every answer that reached the client was a 200, and each is 'processed': no request was applied on
  // the stopping replica without its answer getting back (its retry would have said 'duplicate').
  t.ok(deliveries.every((d) => d.final?.json.status === 'processed'), 'every event processed, each once')
  const recorded = await recordedIds(database)
  t.ok(deliveries.every((d) => recorded.has(d.eventId)), 'each event recorded')
  t.equal(recorded.size, 600 + SLOW_EVENTS, 'and nothing else')
  const [boosts] = await database.query('select count(*)::int as n, count(distinct transaction_id)::int as distinct from boosts')
  t.same(boosts, { n: 600 + SLOW_EVENTS, distinct: 600 + SLOW_EVENTS }, 'one effect per event')
  // Leases here live 60 s: any lease the stopped replica had not released would still be in Redis.
  t.same(await lockKeys(redis), [], 'no lock left behind')
  t.same(leaks(cluster), [], 'no secret, token, password or signature in any log line')
  printTable([summarise(`6. SIGTERM to 1 of 3 replicas mid-burst: 600 events, 30 at a time (+${SLOW_EVENTS} slow ones under way on it)`, deliveries)])
})
