// The real process: SIGTERM turns readiness 503, lets in-flight work finish, releases locks, exits 0.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { freshDatabase } from '../helpers/database.js'
import { TEST_SECRET } from '../helpers/env.js'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import { startOwnRedis } from '../helpers/redis-server.js'
import { startServerProcess } from '../helpers/server-process.js'
import { slowInserts } from '../helpers/triggers.js'
import { signPaddleBody } from '../../services/paddle/signature.js'

t.setTimeout(120_000)

t.test('SIGTERM: readiness 503 before the port closes, the in-flight webhook completes, no lock left, exit 0', async (t) => {
  const database = await freshDatabase(t)
  const redis = await startOwnRedis(t)
  const server = await startServerProcess(t, { DATABASE_URL: database.url, REDIS_URL: redis.url, SHUTDOWN_DELAY_MS: '1500' })
  await slowInserts(database, 'boosts', 'community_id', 'community_slow', 1)

  const body = JSON.stringify(boostPurchaseEvent({ community_id: 'community_slow' }))
  const inFlight = fetch(`${server.url}/billing/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'paddle-signature': signPaddleBody(body, TEST_SECRET) },
    body
  })
  await sleep(200)
  server.signal('SIGTERM')
  const seen: number[] = []
  for (let i = 0; i < 60; i++) {
    try {
      seen.push((await fetch(`${server.url}/health/ready`)).status)
    } catch {
      break
    }
    await sleep(50)
  }
  t.ok(seen.includes(503), `readiness answered 503 before the port closed (${seen.join(',')})`)
  const answer = await inFlight
  t.equal(answer.status, 200, 'the in-flight request completed')
  t.equal((await answer.json() as { status: string }).status, 'processed')
  t.equal(await server.exited, 0, 'exit code 0')
  t.same(await redis.client.keys('*lock:*'), [], 'no lock left behind')
  const boosts = await database.query('select count(*)::int as n from boosts')
  t.equal(boosts[0]?.n, 1)
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
})
