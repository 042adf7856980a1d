// Grant only what was paid: the price catalogue decides what a purchase grants, custom_data only says who.
// Through the app with the example catalogue, and through the real server process for the start-up rules.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, metricValue } from '../helpers/app.js'
import { freshDatabase } from '../helpers/database.js'
import { TEST_ADMIN_TOKEN, TEST_SECRET } from '../helpers/env.js'
import { deliver } from '../helpers/paddle.js'
import {
  EXAMPLE_CATALOG, EXAMPLE_CATALOG_PATH, EXAMPLE_PRICES, newPaddleId, oneOffTransaction, subscriptionSnapshot
} from '../helpers/paddle-payloads.js'
import { freePort } from '../helpers/redis-server.js'

const hex = (bytes: number) => randomBytes(bytes).toString('hex')

async function send (app: FastifyInstance, event: { event_id: string }): Promise<string> {
  const response = await deliver(app, event)
  if (response.statusCode !== 200) throw new Error(`${event.event_id} answered ${response.statusCode} ${response.body}`)
  return (response.json() as { status: string }).status
}

t.test('grants come from the price paid, through the app', async (t) => {
  const { app, database, logs } = await buildTestApp(t, { redisUrl: null })
  const boostsOf = (transactionId: string) => database.query<{ price_id: string, months: number, community_id: string, expires_at: Date }>(
    'select price_id, months, community_id, expires_at from boosts where transaction_id = $1 order by months', [transactionId])
  const reasonOf = async (eventId: string) =>
    (await database.query<{ status: string, reason: string | null }>('select status, reason from webhook_events where event_id = $1', [eventId]))[0]

  t.test('without PRICE_CATALOG outside production the example catalogue is used, and said so', async (t) => {
    t.equal(app.catalog.size, EXAMPLE_CATALOG.size)
    t.ok(logs.some((line) => line.includes('PRICE_CATALOG is unset: using the example catalogue')), 'announced at start')
  })

  t.test('months in custom_data are ignored: the price decides', async (t) => {
    const transactionId = newPaddleId('txn')
    const event = oneOffTransaction({
      transactionId,
      occurredAt: '2026-03-10T09:00:00.000000Z',
      items: [{ priceId: EXAMPLE_PRICES.boost1 }],
      customData: { type: 'boost_purchase', community_id: 'community_paid1', months: 24, tier: 'business' }
    })
    t.equal(await send(app, event), 'processed')
    const boosts = await boostsOf(transactionId)
    t.same(boosts.map((b) => [b.price_id, b.months]), [[EXAMPLE_PRICES.boost1, 1]], 'paid for 1 month, sent months: 24, got 1')
    t.equal(boosts[0]?.expires_at.toISOString(), '2026-04-10T09:00:00.000Z')
  })

  t.test('several boost items: catalogue months x quantity each; the same transaction under another event id grants nothing more', async (t) => {
    const transactionId = newPaddleId('txn')
    const event = oneOffTransaction({
      transactionId,
      items: [{ priceId: EXAMPLE_PRICES.boost3, quantity: 2 }, { priceId: EXAMPLE_PRICES.boost12 }],
      customData: { community_id: 'community_paid2', months: 1 }
    })
    t.equal(await send(app, event), 'processed')
    t.same((await boostsOf(transactionId)).map((b) => [b.price_id, b.months]), [[EXAMPLE_PRICES.boost3, 6], [EXAMPLE_PRICES.boost12, 12]])
    t.equal(await send(app, { ...event, event_id: newPaddleId('evt') }), 'processed', 're-notified by Paddle under a new event id')
    t.equal((await boostsOf(transactionId)).length, 2, 'still one boost per paid price')
  })

  t.test('a subscription\'s tier comes from its recurring price, not custom_data', async (t) => {
    const subscriptionId = newPaddleId('sub')
    t.equal(await send(app, subscriptionSnapshot('subscription.created', {
      subscriptionId, priceId: EXAMPLE_PRICES.starter, customData: { community_id: 'community_paid3', tier: 'business' }
    })), 'processed')
    const [row] = await database.query('select tier from subscriptions where id = $1', [subscriptionId])
    t.same(row, { tier: 'starter' })
  })

  t.test('an unknown price: needs_review with the reason, no boost, and the metrics count it', async (t) => {
    const reviewed = () => metricValue(app, 'webhook_events_total', { event_type: 'transaction.completed', result: 'needs_review' })
    const waiting = () => metricValue(app, 'webhook_inbox_events', { status: 'needs_review' })
    const [reviewedBefore, waitingBefore] = [await reviewed(), await waiting()]

    const unknownPrice = `pri_01${hex(12)}`
    const alone = oneOffTransaction({ items: [{ priceId: unknownPrice }], customData: { community_id: 'community_unknown', months: 12 } })
    // A known boost beside the unknown price is not granted either: the transaction waits for review whole.
    const mixed = oneOffTransaction({
      items: [{ priceId: EXAMPLE_PRICES.boost12 }, { priceId: unknownPrice }], customData: { community_id: 'community_unknown' }
    })
    for (const event of [alone, mixed]) {
      t.equal(await send(app, event), 'needs_review')
      t.match(await reasonOf(event.event_id), { status: 'needs_review', reason: new RegExp(`price ${unknownPrice} is not in the catalogue`) })
      t.equal((await boostsOf(event.data.id)).length, 0, 'no boost')
    }
    t.equal(await send(app, alone), 'duplicate', 'a redelivery is answered, not counted again')
    t.equal(await reviewed() - reviewedBefore, 2, 'webhook_events_total{result="needs_review"} counts each event once')
    t.equal(await waiting() - waitingBefore, 2, 'webhook_inbox_events{status="needs_review"} shows them waiting')

    const subscriptionId = newPaddleId('sub')
    const snapshot = subscriptionSnapshot('subscription.created', { subscriptionId, priceId: unknownPrice, customData: { community_id: 'community_unknown' } })
    t.equal(await send(app, snapshot), 'needs_review', 'a subscription on an unknown price')
    t.match(await reasonOf(snapshot.event_id), { reason: /no price in the catalogue grants a tier/ })
    t.equal((await database.query('select 1 from subscriptions where id = $1', [subscriptionId])).length, 0, 'no tier granted')
  })

  t.test('a paid boost for nobody: needs_review naming the field', async (t) => {
    const event = oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.boost3 }], customData: { member_id: 'm', months: 3 } })
    t.equal(await send(app, event), 'needs_review')
    t.match(await reasonOf(event.event_id), { reason: /custom_data\.community_id/ })
    t.equal((await boostsOf(event.data.id)).length, 0)
  })

  t.test('badges: the checkout names the catalogue price; only that price and that member complete the purchase', async (t) => {
    const memberId = `member_${hex(4)}`
    const started = await app.inject({
      method: 'POST',
      url: '/badges/purchase',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', 'idempotency-key': `key-${hex(8)}` },
      payload: { memberId, communityId: 'community_badges', badgeId: 'badge_gold' }
    })
    t.equal(started.statusCode, 201, started.body)
    const { purchaseId, checkout } = started.json() as { purchaseId: string, checkout: { priceId: string, customData: Record<string, string> } }
    t.equal(checkout.priceId, EXAMPLE_PRICES.badgeGold, 'checkout.priceId is the catalogue price of badge_gold')
    t.same(checkout.customData, { member_id: memberId, community_id: 'community_badges', purchase_id: purchaseId }, 'custom_data says who, not what')
    const purchaseRow = async () => (await database.query('select status, transaction_id from badge_purchases where id = $1', [purchaseId]))[0]

    // A cheap badge's price, with the expensive purchase's ids.
    const cheaper = oneOffTransaction({ items: [{ priceId: EXAMPLE_PRICES.badgeSilver }], customData: { ...checkout.customData, badge_id: 'badge_gold' } })
    t.equal(await send(app, cheaper), 'needs_review', 'another badge\'s price')
    t.match(await reasonOf(cheaper.event_id), { reason: /another badge/ })
    const someoneElse = oneOffTransaction({ items: [{ priceId: checkout.priceId }], customData: { ...checkout.customData, member_id: 'member_other' } })
    t.equal(await send(app, someoneElse), 'needs_review', 'another member')
    t.match(await reasonOf(someoneElse.event_id), { reason: /another member/ })
    const unknown = oneOffTransaction({ items: [{ priceId: checkout.priceId }], customData: { ...checkout.customData, purchase_id: `bp_${hex(12)}` } })
    t.equal(await send(app, unknown), 'needs_review', 'a purchase that does not exist')
    t.same(await purchaseRow(), { status: 'pending', transaction_id: null }, 'still pending')

    const paid = oneOffTransaction({ items: [{ priceId: checkout.priceId }], customData: checkout.customData })
    t.equal(await send(app, paid), 'processed', 'the right price and the right member')
    t.same(await purchaseRow(), { status: 'completed', transaction_id: paid.data.id })
    t.equal(await send(app, { ...paid, event_id: newPaddleId('evt') }), 'processed', 'the same transaction re-notified changes nothing')

    const again = oneOffTransaction({ items: [{ priceId: checkout.priceId }], customData: checkout.customData })
    t.equal(await send(app, again), 'needs_review', 'a second payment for a completed purchase')
    t.match(await reasonOf(again.event_id), { reason: /completed by another transaction/ })
    t.same(await purchaseRow(), { status: 'completed', transaction_id: paid.data.id }, 'completed by the first payment, once')
  })
})

interface Exit { code: number | null, lines: string[], ready: boolean }

/**
 * Starts `server.ts` as the process it is in production (through tsx, so nothing is compiled) and waits for
 * it to exit, or to answer /health/ready (then stops it with SIGTERM).
 */
async function runServer (env: Record<string, string>, ms = 60_000): Promise<Exit> {
  const root = new URL('../../', import.meta.url).pathname
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const output: string[] = []
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk))
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve))
  let ready = false
  const deadline = Date.now() + ms
  let code: number | null | undefined
  while (code === undefined && Date.now() < deadline) {
    code = await Promise.race([exited, sleep(100).then(() => undefined)])
    if (code !== undefined || ready) continue
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200) {
        ready = true
        child.kill('SIGTERM')
      }
    } catch {}
  }
  if (code === undefined) {
    child.kill('SIGKILL')
    code = await exited
  }
  return { code, ready, lines: output.join('').split('\n').filter((line) => line !== '') }
}

t.test('the catalogue at start, in the real server process', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-catalogue-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const database = await freshDatabase(t)
  const base = { PADDLE_WEBHOOK_SECRET: TEST_SECRET, DATABASE_URL: database.url }

  const file = join(dir, 'prices.json')
  writeFileSync(file, JSON.stringify({
    prices: {
      [EXAMPLE_PRICES.boost1]: { grant: 'boost', months: 1 },
      pri_01hzbadmonths0000000000000: { grant: 'boost', months: 0 }
    }
  }))
  // Three starts at once: each waits mostly on its own transpile and start-up.
  const [bad, refused, started] = await Promise.all([
    runServer({ ...base, PRICE_CATALOG: file }),
    runServer({ ...base, NODE_ENV: 'production' }),
    runServer({ ...base, NODE_ENV: 'production', PRICE_CATALOG: EXAMPLE_CATALOG_PATH })
  ])

  t.test('a bad entry stops the start with one line naming it', async (t) => {
    t.equal(bad.code, 1, 'exits 1')
    t.notOk(bad.ready, 'never ready')
    const named = bad.lines.filter((line) => line.includes('prices["pri_01hzbadmonths0000000000000"].months'))
    t.equal(named.length, 1, `one line names the entry and its field: ${bad.lines.join(' | ')}`)
    t.match(named[0], /^Could not start: PRICE_CATALOG .*prices\["pri_01hzbadmonths0000000000000"\]\.months must be an integer from 1 to 120 \(got 0\)$/)
    t.notOk(bad.lines.some((line) => /^\s+at /.test(line)), 'no stack trace')
  })

  t.test('NODE_ENV=production without PRICE_CATALOG refuses to start, naming PRICE_CATALOG', async (t) => {
    t.equal(refused.code, 1, 'exits 1')
    t.notOk(refused.ready)
    t.same(refused.lines.filter((line) => line.includes('PRICE_CATALOG')), ['Invalid configuration: PRICE_CATALOG is required when NODE_ENV=production'])
  })

  t.test('NODE_ENV=production with a catalogue starts, and says which', async (t) => {
    t.ok(started.ready, `ready: ${started.lines.slice(-3).join(' | ')}`)
    t.equal(started.code, 0, 'stopped cleanly by SIGTERM')
    const loaded = started.lines.map((line) => { try { return JSON.parse(line) as Record<string, unknown> } catch { return {} } })
      .find((entry) => entry.msg === 'price catalogue loaded')
    t.match(loaded, { path: EXAMPLE_CATALOG_PATH, prices: EXAMPLE_CATALOG.size })
  })
})
