// The real process: SIGTERM turns readiness 503, lets in-flight work finish, releases locks, exits 0.
import t from 'tap'
import { request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { freshDatabase } from '../helpers/database.js'
import { TEST_SECRET } from '../helpers/env.js'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import { startOwnRedis } from '../helpers/redis-server.js'
import { startServerProcess } from '../helpers/server-process.js'
import { slowInserts } from '../helpers/triggers.js'
import { markerKey } from '../../services/lvver.js'
import { signPaddleBody } from '../../services/paddle/signature.js'
import { EVENT_SCOPE as WEBHOOK_SCOPE } from '../../services/inbox.js'

t.setTimeout(120_000)

/** One GET on a new connection (no keep-alive to hide a closed port): the status, or the error's code. */
async function probe (url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 2000 }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('timeout', () => { req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })) })
    req.on('error', (err: NodeJS.ErrnoException) => { resolve(err.code ?? err.message) })
    req.end()
  })
}

const GRACE_MS = 15_000

t.test('SIGTERM: readiness 503 before the port closes, the in-flight webhook completes, no lock left, exit 0', async (t) => {
  const database = await freshDatabase(t)
  const redis = await startOwnRedis(t)
  const server = await startServerProcess(t, {
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    SHUTDOWN_DELAY_MS: '1500',
    SHUTDOWN_GRACE_MS: String(GRACE_MS)
  })
  await server.lockRoutesOpen()
  // Longer than the readiness delay, so the request is still running when the port closes.
  await slowInserts(database, 'boosts', 'community_id', 'community_slow', 4)

  const event = boostPurchaseEvent({ community_id: 'community_slow' })
  const body = JSON.stringify(event)
  let answered = false
  const inFlight = fetch(`${server.url}/billing/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'paddle-signature': signPaddleBody(body, TEST_SECRET) },
    body
  }).finally(() => { answered = true })
  // SIGTERM only once the webhook is inside its transaction (its insert sleeps in the trigger).
  let insideTransaction = false
  for (let i = 0; i < 200 && !insideTransaction; i++) {
    const [sleeping] = await database.query<{ n: number }>(
      "select count(*)::int as n from pg_stat_activity where datname = $1 and wait_event = 'PgSleep'", [database.name])
    insideTransaction = sleeping?.n === 1
    if (!insideTransaction) await sleep(25)
  }
  t.ok(insideTransaction && !answered, 'the webhook is in flight when SIGTERM arrives')
  server.signal('SIGTERM')

  const seen: Array<number | string> = []
  let refusedWhileInFlight = false
  const deadline = Date.now() + GRACE_MS
  while (Date.now() < deadline) {
    const outcome = await probe(`${server.url}/health/ready`)
    seen.push(outcome)
    // Only a refused connection means the port is closed (a probe racing the close may see a reset).
    if (outcome === 'ECONNREFUSED') {
      refusedWhileInFlight = !answered
      break
    }
    await sleep(50)
  }
  const first503 = seen.indexOf(503)
  t.ok(first503 >= 0, `readiness answered 503 after SIGTERM (${seen.join(',')})`)
  t.same(seen.slice(first503, -1).filter((s) => typeof s === 'number' && s !== 503), [], 'and never 200 again')
  t.equal(seen.at(-1), 'ECONNREFUSED', 'then the port closed: connection refused')
  t.ok(refusedWhileInFlight, 'the port closed while the webhook was still running')

  const answer = await inFlight
  t.equal(answer.status, 200, 'the in-flight request completed')
  t.same(await answer.json(), { status: 'processed', eventId: event.event_id })
  const exit = await Promise.race([server.exited, sleep(GRACE_MS + 5000, 'still running')])
  t.equal(exit, 0, 'exit code 0 within the grace period')
  t.same(await redis.client.keys('lock:*'), [], 'no lock left behind')
  t.same(await redis.client.keys('processed:*'), [markerKey(WEBHOOK_SCOPE, event.event_id as string)], 'the marker was set before Redis closed')
  const boosts = await database.query('select count(*)::int as n from boosts')
  t.equal(boosts[0]?.n, 1)
  t.same(await database.query('select status from webhook_events where event_id = $1', [event.event_id]), [{ status: 'processed' }])
  t.ok(server.lines.some((line) => line.includes('stopped')), 'logged its stop')
})

t.test('bad configuration stops the start with a message naming the variable, without a stack trace', async (t) => {
  const production = await startServerProcess(t, { NODE_ENV: 'production', PADDLE_WEBHOOK_SECRET: '' }, { waitReady: false })
  t.equal(await production.exited, 1)
  t.match(production.lines.join('\n'), /PADDLE_WEBHOOK_SECRET is required when NODE_ENV=production/)
  t.notMatch(production.lines.join('\n'), /\n\s+at /, 'no stack trace')

  const port = await startServerProcess(t, { PORT: 'abc' }, { waitReady: false })
  t.equal(await port.exited, 1)
  t.match(port.lines.join('\n'), /^Invalid configuration: PORT /m)
  t.notMatch(port.lines.join('\n'), /\n\s+at /, 'no stack trace')
})

t.test('Postgres unreachable at start: exit 1 with one plain line, no stack trace', async (t) => {
  // Nothing listens on port 1; REDIS_URL unset so only Postgres is at stake.
  const down = await startServerProcess(t, { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/billing' }, { waitReady: false })
  t.equal(await down.exited, 1)
  t.match(down.lines.join('\n'), /^Could not start: connect ECONNREFUSED 127\.0\.0\.1:1$/m)
  t.notMatch(down.lines.join('\n'), /\n\s+at /, 'no stack trace')

  const missing = await startServerProcess(t, { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/bw_no_such_database' }, { waitReady: false })
  t.equal(await missing.exited, 1)
  t.match(missing.lines.join('\n'), /^Could not start: database "bw_no_such_database" does not exist$/m)
})
