// The operator's inbox from a shell (`npm run events -- list|show|replay ...`, for `kubectl exec`): the
// same services as the HTTP routes, JSON on stdout, and exit codes a script can act on.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { SHARED_REDIS_URL, TEST_SECRET } from '../helpers/env.js'
import { count } from '../helpers/lvver.js'
import { deliver } from '../helpers/paddle.js'
import { EXAMPLE_PRICES, newPaddleId, oneOffTransaction, samplePaddleEvent, subscriptionSnapshot } from '../helpers/paddle-payloads.js'
import { failInserts } from '../helpers/triggers.js'

type Json = Record<string, any>

const hex = (bytes: number) => randomBytes(bytes).toString('hex')
const root = new URL('../../', import.meta.url).pathname

const boostPurchase = (priceId: string = EXAMPLE_PRICES.boost3, customData: Json | null = { community_id: `community_${hex(4)}` }) =>
  oneOffTransaction({ items: [{ priceId }], customData })

interface CliRun { code: number | null, stdout: string, stderr: string, json: Json | undefined }

t.test('the CLI: list, show and replay over the same services, JSON on stdout and meaningful exit codes', async (t) => {
  const { app, database, config } = await buildTestApp(t)
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    DATABASE_URL: database.url,
    REDIS_URL: SHARED_REDIS_URL,
    REDIS_KEY_PREFIX: config.redisKeyPrefix,
    PADDLE_WEBHOOK_SECRET: TEST_SECRET,
    LOG_LEVEL: 'warn'
  }
  // `npm run events -- ...` is this command; npm itself is left out to keep the runs short.
  const cli = async (...args: string[]) => new Promise<CliRun>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'cli/events.ts', ...args], { cwd: root, env, timeout: 60_000 }, (error, stdout, stderr) => {
      let json: Json | undefined
      try { json = JSON.parse(stdout) as Json } catch {}
      resolve({ code: error === null ? 0 : (error as { code?: number }).code ?? null, stdout, stderr, json })
    })
  })

  const ignored = [1, 2, 3].map(() => samplePaddleEvent('customer.updated'))
  const forNobody = boostPurchase(EXAMPLE_PRICES.boost1, null)
  const failing = subscriptionSnapshot('subscription.created', { subscriptionId: newPaddleId('sub'), priceId: EXAMPLE_PRICES.pro, customData: { community_id: `community_${hex(4)}` } })
  const fixable = [1, 2].map(() => boostPurchase())
  for (const event of [...ignored, forNobody]) await deliver(app, event)
  const restoreSubscriptions = await failInserts(database, 'subscriptions')
  t.equal((await deliver(app, failing)).statusCode, 500)
  await restoreSubscriptions()
  const restoreBoosts = await failInserts(database, 'boosts')
  for (const event of fixable) t.equal((await deliver(app, event)).statusCode, 500)
  await restoreBoosts()

  // Runs that cannot see each other's effects go together: each run loads the whole service.
  const [list, show, usage, replayed, bulk, missing] = await Promise.all([
    cli('list', '--type', 'customer.updated', '--limit', '2'),
    cli('show', ignored[0]!.event_id),
    cli('list', '--status', 'lost'),
    cli('replay', failing.event_id),
    cli('replay', '--status', 'failed', '--type', 'transaction.completed'),
    cli('replay', newPaddleId('evt'))
  ])
  t.equal(list.code, 0, `list exits 0 ${list.stderr}`)
  t.equal(list.json?.events.length, 2, 'list: a page of the given size')
  t.ok(list.json?.events.every((event: Json) => event.eventType === 'customer.updated' && event.status === 'ignored'), 'list: filtered by type')
  t.type(list.json?.nextCursor, 'string', 'list: a cursor to the next page')
  t.equal(show.code, 0, `show exits 0 ${show.stderr}`)
  t.match(show.json, { eventId: ignored[0]!.event_id, status: 'ignored', eventType: 'customer.updated' }, 'show: the event')
  t.same(show.json?.payload, ignored[0], 'show: with its payload')
  t.equal(usage.code, 2, 'a bad option exits 2')
  t.match(usage.stderr, /--status must be one of/, 'and says why, with the usage')
  t.equal(usage.stdout, '', 'nothing on stdout')

  t.equal(replayed.code, 0, `replay exits 0 ${replayed.stderr}`)
  t.same(replayed.json, { status: 'processed', eventId: failing.event_id }, 'replay: answered like the webhook')
  t.equal(await count(database, 'subscriptions where id = $1', [failing.data.id]), 1, 'replay: applied')
  t.equal(bulk.code, 0, `bulk replay exits 0 ${bulk.stderr}`)
  t.same(bulk.json, { outcomes: { processed: 2 } }, 'bulk replay: the counts')
  t.equal(await count(database, 'boosts where transaction_id = any($1)', [fixable.map((event) => event.data.id)]), 2, 'each applied once')
  t.match((await database.query('select status, source from webhook_events where event_id = $1', [forNobody.event_id]))[0],
    { status: 'needs_review', source: 'webhook' }, 'a bulk replay of failed events leaves the others alone')
  t.equal(missing.code, 1, 'replaying an unknown id exits 1')
  t.match(missing.json?.error, /not_found/i)

  const again = await cli('replay', failing.event_id)
  t.equal(again.code, 1, 'replaying a processed event exits 1')
  t.equal(again.json?.error, 'already_processed', 'the same code as the HTTP answer')
  t.match((await database.query('select status, attempts, source from webhook_events where event_id = $1', [failing.event_id]))[0],
    { status: 'processed', attempts: 2, source: 'replay' }, 'and changes nothing')
})
