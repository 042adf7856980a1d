// Scenario 7: hostile input against a real process. Each case gets its documented 4xx, nothing is
// written, the process keeps serving, and no secret reaches the logs.
import t from 'tap'
import { request } from 'node:http'
import { TEST_ADMIN_TOKEN, TEST_SECRET } from '../helpers/env.js'
import { boostPurchaseEvent, paddleEvent } from '../helpers/paddle.js'
import { signPaddleBody } from '../../services/paddle/signature.js'
import { leakedSecrets, sentSignatures, startCluster } from './harness.js'

t.setTimeout(240_000)

interface Raw { status: number, body: string, ms: number }

function send (url: string, path: string, method: string, headers: Record<string, string | string[]>, body?: Buffer | string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const target = new URL(path, url)
    const req = request({ host: target.hostname, port: target.port, path: target.pathname, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }))
    })
    req.on('error', reject)
    if (body !== undefined) req.write(body)
    req.end()
  })
}

const signed = (body: Buffer | string): Record<string, string> => {
  const signature = signPaddleBody(body, TEST_SECRET)
  sentSignatures.add(signature.split('h1=')[1] ?? '')
  return { 'content-type': 'application/json', 'paddle-signature': signature }
}
const json = (value: unknown) => JSON.stringify(value)
const withData = (data: Record<string, unknown>) => json({ ...boostPurchaseEvent(), data: { ...(boostPurchaseEvent().data as object), ...data } })
const withCustom = (custom: Record<string, unknown>) => withData({ custom_data: { type: 'boost_purchase', community_id: 'c1', ...custom } })
const sql = "x'; drop table webhook_events; --"

t.test('hostile input: documented 4xx answers, nothing written, still serving, no secret logged', async (t) => {
  const cluster = await startCluster(t, { ADMIN_API_TOKEN: TEST_ADMIN_TOKEN, BODY_LIMIT_BYTES: '65536' }, 1)
  const { url } = cluster.replicas[0]!
  const counts = async () => (await cluster.database.query(`select
    (select count(*) from webhook_events)::int as events, (select count(*) from boosts)::int as boosts,
    (select count(*) from badge_purchases)::int as badges, (select count(*) from subscriptions)::int as subscriptions,
    (select count(*) from idempotency_keys)::int as keys`))[0]
  const before = await counts()

  const big = Buffer.alloc(70_000, ' ')
  const deep = '['.repeat(30_000) + ']'.repeat(30_000)
  const deepObject = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)
  const badUtf8 = Buffer.concat([Buffer.from('{"event_id":"evt_'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('","event_type":"transaction.completed"}')])
  const valid = json(boostPurchaseEvent())
  const staleTs = Math.floor(Date.now() / 1000) - 3600
  const cases: Array<[string, number, () => Promise<Raw>]> = [
    ['body over the limit, signed', 413, () => send(url, '/billing/webhook', 'POST', signed(big), big)],
    ['body over the limit, unsigned', 413, () => send(url, '/billing/webhook', 'POST', { 'content-type': 'application/json' }, big)],
    ['deeply nested arrays', 400, () => send(url, '/billing/webhook', 'POST', signed(deep), deep)],
    ['deeply nested objects', 400, () => send(url, '/billing/webhook', 'POST', signed(deepObject), deepObject)],
    ['invalid UTF-8', 400, () => send(url, '/billing/webhook', 'POST', signed(badUtf8), badUtf8)],
    ['text/plain', 415, () => send(url, '/billing/webhook', 'POST', { ...signed(valid), 'content-type': 'text/plain' }, valid)],
    ['a form', 415, () => send(url, '/billing/webhook', 'POST', { ...signed('a=1'), 'content-type': 'application/x-www-form-urlencoded' }, 'a=1')],
    ['no content type', 415, () => send(url, '/billing/webhook', 'POST', { 'paddle-signature': signed(valid)['paddle-signature']! }, valid)],
    ['a signature made for another body', 401, () => send(url, '/billing/webhook', 'POST', signed(json(boostPurchaseEvent())), valid)],
    ['a replayed stale signature', 401, () => send(url, '/billing/webhook', 'POST', { 'content-type': 'application/json', 'paddle-signature': signPaddleBody(valid, TEST_SECRET, staleTs) }, valid)],
    ['a signature under another secret', 401, () => send(url, '/billing/webhook', 'POST', { 'content-type': 'application/json', 'paddle-signature': signPaddleBody(valid, 'guess') }, valid)],
    ['duplicated signature headers', 401, () => send(url, '/billing/webhook', 'POST', { 'content-type': 'application/json', 'paddle-signature': [signed(valid)['paddle-signature']!, signed(valid)['paddle-signature']!] }, valid)],
    ['a huge header', 431, () => send(url, '/billing/webhook', 'POST', { ...signed(valid), 'x-padding': 'p'.repeat(20_000) }, valid)],
    ['an empty body, signed', 400, () => send(url, '/billing/webhook', 'POST', signed(''), '')],
    ['an empty body, unsigned', 401, () => send(url, '/billing/webhook', 'POST', { 'content-type': 'application/json' }, '')],
    ['a JSON array', 400, () => { const b = json([boostPurchaseEvent()]); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['JSON null', 400, () => send(url, '/billing/webhook', 'POST', signed('null'), 'null')],
    ['trailing garbage', 400, () => { const b = `${valid}garbage`; return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['not JSON at all', 400, () => send(url, '/billing/webhook', 'POST', signed('<xml/>'), '<xml/>')],
    ['a 10 KB event_id', 400, () => { const b = json({ ...boostPurchaseEvent(), event_id: 'e'.repeat(10_240) }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['SQL in event_id', 400, () => { const b = json({ ...boostPurchaseEvent(), event_id: sql }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['SQL in notification_id', 400, () => { const b = json({ ...boostPurchaseEvent(), notification_id: sql }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['SQL in data.id', 400, () => { const b = withData({ id: sql }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['SQL in customer_id', 400, () => { const b = withData({ customer_id: sql }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['SQL in subscription_id', 400, () => { const b = withData({ subscription_id: sql }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['quotes in community_id', 400, () => { const b = withCustom({ community_id: '"c1"' }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['SQL in member_id', 400, () => { const b = withCustom({ member_id: sql }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['SQL in badge_id', 400, () => { const b = withCustom({ type: 'badge_purchase', member_id: 'm', badge_id: sql }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['SQL in purchase_id', 400, () => { const b = withCustom({ purchase_id: sql }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['__proto__ in custom_data', 400, () => { const b = withCustom({}).replace('"custom_data":{', '"custom_data":{"__proto__":{"isAdmin":true},'); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['constructor.prototype in custom_data', 400, () => { const b = withCustom({ constructor: { prototype: { isAdmin: true } } }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['a number as event_id', 400, () => { const b = json({ ...boostPurchaseEvent(), event_id: 12345 }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['a number as event_type', 400, () => { const b = json({ ...boostPurchaseEvent(), event_type: 7 }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['a string as months', 400, () => { const b = withCustom({ months: '3' }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['a number as the amount', 400, () => { const b = withData({ details: { totals: { total: 1500 } } }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['no event_id', 400, () => { const e = boostPurchaseEvent(); delete e.event_id; const b = json(e); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['no data', 400, () => { const b = json({ ...paddleEvent(), data: undefined }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['an impossible occurred_at', 400, () => { const b = json({ ...boostPurchaseEvent(), occurred_at: '2026-02-31T25:61:00Z' }); return send(url, '/billing/webhook', 'POST', signed(b), b) }],
    ['admin route without a token', 401, () => send(url, '/admin/boosts', 'POST', { 'content-type': 'application/json', 'idempotency-key': 'k1' }, json({ communityId: 'c', months: 1, reason: 'r' }))],
    ['admin route with SQL in the body', 400, () => send(url, '/admin/boosts', 'POST', { 'content-type': 'application/json', 'idempotency-key': 'k2', authorization: `Bearer ${TEST_ADMIN_TOKEN}` }, json({ communityId: sql, months: 1, reason: 'r' }))],
    ['member route with __proto__', 400, () => send(url, '/badges/purchase', 'POST', { 'content-type': 'application/json', 'idempotency-key': 'k3', authorization: `Bearer ${TEST_ADMIN_TOKEN}` }, '{"memberId":"m","communityId":"c","badgeId":"b","__proto__":{"x":1}}')]
  ]
  t.ok(cases.length >= 30, `${cases.length} cases`)
  let worst = 0
  for (const [name, status, run] of cases) {
    const answer = await run()
    worst = Math.max(worst, answer.ms)
    t.equal(answer.status, status, `${name}: ${status}`)
    let body: Record<string, unknown> = {}
    try { body = JSON.parse(answer.body) as Record<string, unknown> } catch {}
    t.ok(typeof body.error === 'string' && typeof body.message === 'string', `${name}: JSON { error, message }`)
    t.notMatch(answer.body, /\bat .+\.(js|ts):\d+/, `${name}: no stack trace`)
  }
  t.same(await counts(), before, 'no row written')
  const ok = await send(url, '/billing/webhook', 'POST', signed(valid), valid)
  t.equal(ok.status, 200, 'the process still serves')
  t.equal(cluster.replicas[0]!.child.exitCode, null, 'and never crashed')
  t.same(leakedSecrets(cluster.lines(), [TEST_SECRET, TEST_ADMIN_TOKEN]), [], 'no secret, token or signature in the logs')
  t.comment(`hostile input: ${cases.length} cases, worst latency ${Math.round(worst)} ms`)
})
