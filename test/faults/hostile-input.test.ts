// Scenario 7: hostile input against real processes. What fails the signature, the JSON or the envelope
// gets its documented 4xx with the shared `{ error, message }` body and no stack, writes nothing and takes
// no lock. A signed event whose content past the envelope is hostile is never refused: it is answered 200
// and kept (applied, ignored, or needs_review with a reason). The processes keep serving, and no secret,
// token or signature reaches the logs.
import t from 'tap'
import { request } from 'node:http'
import { TEST_ADMIN_TOKEN, TEST_SECRET } from '../helpers/env.js'
import { boostPurchaseEvent } from '../helpers/paddle.js'
import { signPaddleBody } from '../../services/paddle/signature.js'
import { leaks, lockKeys, markedIds, printTable, probe, sentSignatures, startCluster, type Summary } from './harness.js'

t.setTimeout(240_000)

interface Raw { status: number, headers: Record<string, unknown>, body: string, ms: number }
type Headers = Record<string, string | string[]>

/** One request on a fresh connection, headers exactly as given; resolves with the answer even if the
 *  server closes the connection before it has read the whole body (as it may for a 413). */
function send (url: string, path: string, headers: Headers, body?: Buffer | string, options: { chunked?: boolean } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const target = new URL(path, url)
    let answered = false
    const req = request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers, agent: false, timeout: 10_000 }, (res) => {
      answered = true
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }))
    })
    req.on('timeout', () => { req.destroy(new Error('no answer within 10 s')) })
    req.on('error', (err) => { if (!answered) reject(err) })
    if (body !== undefined && options.chunked === true) {
      // No Content-Length: the limit must hold while the body streams in.
      const bytes = Buffer.from(body)
      for (let i = 0; i < bytes.length; i += 16_384) req.write(bytes.subarray(i, i + 16_384))
    } else if (body !== undefined) {
      req.write(body)
    }
    req.end()
  })
}

const signature = (body: Buffer | string, ts?: number, secret = TEST_SECRET): string => {
  const header = signPaddleBody(body, secret, ts)
  sentSignatures.add(header.slice(header.indexOf('h1=') + 3))
  return header
}
const signed = (body: Buffer | string): Headers => ({ 'content-type': 'application/json', 'paddle-signature': signature(body) })
const json = (value: unknown): string => JSON.stringify(value)
const event = (): Record<string, unknown> & { data: Record<string, unknown> } =>
  boostPurchaseEvent() as Record<string, unknown> & { data: Record<string, unknown> }
const withTop = (fields: Record<string, unknown>): string => json({ ...event(), ...fields })
const withData = (fields: Record<string, unknown>): string => { const e = event(); return json({ ...e, data: { ...e.data, ...fields } }) }
const withCustom = (fields: Record<string, unknown>): string =>
  withData({ custom_data: { type: 'boost_purchase', community_id: 'community_1', member_id: 'member_1', months: 3, ...fields } })
const without = (field: string): string => { const e = event(); delete e[field]; return json(e) }
/** A valid event with `raw` spliced in as the first field of `data` (for what JSON.stringify cannot write). */
const spliceData = (raw: string): string => json(event()).replace('"data":{', `"data":{${raw},`)
const spliceCustom = (raw: string): string => json(event()).replace('"custom_data":{', `"custom_data":{${raw},`)
const SQL = "x'; drop table webhook_events; --"
const QUOTES = 'evt_"01"\'x\''

t.test('hostile input: refusals write nothing, signed events are kept whatever they carry, still serving, no secret logged', async (t) => {
  const cluster = await startCluster(t)
  const { database, redis, replicas } = cluster
  const counts = async () => (await database.query(`select
    (select count(*) from webhook_events)::int as webhook_events, (select count(*) from boosts)::int as boosts,
    (select count(*) from badge_purchases)::int as badge_purchases, (select count(*) from subscriptions)::int as subscriptions,
    (select count(*) from idempotency_keys)::int as idempotency_keys`))[0]

  const webhook = (body: Buffer | string, headers: Headers = signed(body), options?: { chunked?: boolean }) =>
    (url: string) => send(url, '/billing/webhook', headers, body, options)
  let key = 0
  /** A bearer route's request: a valid token and a fresh Idempotency-Key unless `headers` replaces them (null: leave out). */
  const admin = (path: string, body: string, headers: Record<string, string | null> = {}) => (url: string) => {
    const all: Record<string, string | null> = {
      'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'idempotency-key': `fault-key-${key++}`, ...headers
    }
    return send(url, path, Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== null)), body)
  }

  const overLimit = Buffer.alloc(300_000, ' ')
  const valid = json(event())
  const now = Math.floor(Date.now() / 1000)
  /** An HTTP status for a refusal, or the inbox status a signed event past its envelope ends in (200). */
  type Expected = number | 'processed' | 'ignored' | 'needs_review'
  const cases: Array<[string, Expected, (url: string) => Promise<Raw>]> = [
    // Size and shape
    ['a body over BODY_LIMIT_BYTES, signed', 413, webhook(overLimit)],
    ['a body over the limit, unsigned', 413, webhook(overLimit, { 'content-type': 'application/json' })],
    ['a body over the limit, chunked (no Content-Length)', 413, webhook(overLimit, signed(overLimit), { chunked: true })],
    ['100,000 "["', 400, webhook('['.repeat(100_000))],
    ['100,000 nested arrays, balanced', 400, webhook('['.repeat(100_000) + ']'.repeat(100_000))],
    ['20,000 nested objects', 400, webhook('{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000))],
    ['a valid event carrying 10,000 nested arrays', 'needs_review', webhook(spliceData(`"note":${'['.repeat(10_000)}${']'.repeat(10_000)}`))],
    ['a valid event with custom_data nested 100 deep', 'needs_review', webhook(spliceCustom(`"x":${'{"a":'.repeat(100)}1${'}'.repeat(100)}`))],
    // Text Postgres cannot store
    ['"\\u0000" in an extra field', 'needs_review', webhook(withData({ note: 'a\u0000b' }))],
    ['"\\u0000" in custom_data', 'needs_review', webhook(withCustom({ note: '\u0000' }))],
    ['"\\u0000" in a key', 'needs_review', webhook(spliceData('"no\\u0000te":1'))],
    ['a lone surrogate', 'needs_review', webhook(spliceData('"note":"\\ud800"'))],
    ['"\\u0000" in an unhandled event type', 'needs_review', webhook(json({ ...event(), event_type: 'address.created', data: { id: 'add_1', note: '\u0000' } }))],
    ['invalid UTF-8', 400, webhook(Buffer.concat([Buffer.from('{"event_id":"evt_'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]))],
    ['an overlong UTF-8 encoding', 400, webhook(Buffer.concat([Buffer.from(valid.slice(0, -1) + ',"x":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]))],
    // Content types
    ['text/plain', 415, webhook(valid, { ...signed(valid), 'content-type': 'text/plain' })],
    ['a form', 415, webhook('a=1', { ...signed('a=1'), 'content-type': 'application/x-www-form-urlencoded' })],
    ['multipart', 415, webhook(valid, { ...signed(valid), 'content-type': 'multipart/form-data; boundary=x' })],
    ['application/json-seq', 415, webhook(valid, { ...signed(valid), 'content-type': 'application/json-seq' })],
    ['no content type', 415, webhook(valid, { 'paddle-signature': signature(valid) })],
    // Signatures
    ['a signature made for another body', 401, webhook(valid, signed(json(event())))],
    ['a signature for the same JSON written differently', 401, webhook(valid, signed(JSON.stringify(JSON.parse(valid), null, 1)))],
    ['a replayed stale signature (1 h old)', 401, webhook(valid, { 'content-type': 'application/json', 'paddle-signature': signature(valid, now - 3600) })],
    ['a signature from 1 h in the future', 401, webhook(valid, { 'content-type': 'application/json', 'paddle-signature': signature(valid, now + 3600) })],
    ['a signature under another secret', 401, webhook(valid, { 'content-type': 'application/json', 'paddle-signature': signature(valid, undefined, 'guessed') })],
    ['no signature', 401, webhook(valid, { 'content-type': 'application/json' })],
    ['a signature without h1', 401, webhook(valid, { 'content-type': 'application/json', 'paddle-signature': `ts=${now}` })],
    ['an h1 that is not hex', 401, webhook(valid, { 'content-type': 'application/json', 'paddle-signature': `ts=${now};h1=${'z'.repeat(64)}` })],
    ['a 5 KB signature header', 401, webhook(valid, { 'content-type': 'application/json', 'paddle-signature': `${signature(valid)}${`;h1=${'0'.repeat(64)}`.repeat(80)}` })],
    ['duplicated Paddle-Signature headers', 401, webhook(valid, { 'content-type': 'application/json', 'paddle-signature': [signature(valid), signature(valid)] })],
    ['a 20 KB header', 431, webhook(valid, { ...signed(valid), 'x-padding': 'p'.repeat(20_000) })],
    // Bodies that are not an event
    ['an empty body, signed', 400, webhook('')],
    ['an empty body, unsigned', 401, webhook('', { 'content-type': 'application/json' })],
    ['whitespace only', 400, webhook('  \n ')],
    ['a JSON array of events', 400, webhook(json([event()]))],
    ['JSON null', 400, webhook('null')],
    ['a JSON string', 400, webhook('"evt_1"')],
    ['trailing garbage', 400, webhook(`${valid}garbage`)],
    ['XML', 400, webhook('<event id="1"/>')],
    // Ids: too long, quotes and SQL in every one
    ['a 10 KB event_id', 400, webhook(withTop({ event_id: 'e'.repeat(10_240) }))],
    ['SQL in event_id', 'processed', webhook(withTop({ event_id: SQL }))],
    ['quotes in event_id', 'processed', webhook(withTop({ event_id: QUOTES }))],
    ['SQL in event_type', 'ignored', webhook(withTop({ event_type: SQL }))],
    ['SQL in notification_id', 'processed', webhook(withTop({ notification_id: SQL }))],
    ['SQL in data.id', 'processed', webhook(withData({ id: SQL }))],
    ['quotes in data.id', 'processed', webhook(withData({ id: QUOTES }))],
    ['SQL in data.status', 'processed', webhook(withData({ status: SQL }))],
    ['SQL in customer_id', 'processed', webhook(withData({ customer_id: SQL }))],
    ['SQL in subscription_id', 'processed', webhook(withData({ subscription_id: SQL }))],
    ['SQL in custom_data.type', 'processed', webhook(withCustom({ type: SQL }))],
    ['SQL in community_id', 'processed', webhook(withCustom({ community_id: SQL }))],
    ['quotes in community_id', 'processed', webhook(withCustom({ community_id: QUOTES }))],
    ['SQL in member_id', 'processed', webhook(withCustom({ member_id: SQL }))],
    ['SQL in badge_id', 'processed', webhook(withCustom({ type: 'badge_purchase', badge_id: SQL }))],
    ['SQL in purchase_id', 'processed', webhook(withCustom({ purchase_id: SQL }))],
    ['SQL in tier', 'processed', webhook(withCustom({ tier: SQL }))],
    // Prototype poisoning
    ['__proto__ in custom_data', 'processed', webhook(spliceCustom('"__proto__":{"isAdmin":true}'))],
    ['constructor.prototype in custom_data', 'processed', webhook(withCustom({ constructor: { prototype: { isAdmin: true } } }))],
    ['__proto__ at the top level', 'processed', webhook(`{"__proto__":{"x":1},${valid.slice(1)}`)],
    ['__proto__ deep in data', 'processed', webhook(spliceData('"items":[{"price":{"__proto__":{"x":1}}}]'))],
    // Wrong types, missing fields
    ['a number as event_id', 400, webhook(withTop({ event_id: 12345 }))],
    ['a number as event_type', 400, webhook(withTop({ event_type: 7 }))],
    ['a number as occurred_at', 400, webhook(withTop({ occurred_at: 1_700_000_000 }))],
    ['a number as data.id', 'processed', webhook(withData({ id: 42 }))],
    ['a number as the total', 'processed', webhook(withData({ details: { totals: { total: 1500 } } }))],
    ['a boolean as community_id', 'needs_review', webhook(withCustom({ community_id: true }))],
    ['a string as months', 'processed', webhook(withCustom({ months: '3' }))],
    ['months = 1e3', 'processed', webhook(withCustom({ months: 1000 }))],
    ['an array as data', 400, webhook(withTop({ data: [] }))],
    ['no event_id', 400, webhook(without('event_id'))],
    ['no event_type', 400, webhook(without('event_type'))],
    ['no occurred_at', 400, webhook(without('occurred_at'))],
    ['no data', 400, webhook(without('data'))],
    ['an impossible occurred_at', 400, webhook(withTop({ occurred_at: '2026-02-31T25:61:00Z' }))],
    // The bearer routes
    ['admin route without a token', 401, admin('/admin/boosts', json({ communityId: 'c1', months: 1, reason: 'r' }), { authorization: null })],
    ['admin route with a wrong token', 401, admin('/admin/boosts', json({ communityId: 'c1', months: 1, reason: 'r' }), { authorization: 'Bearer wrong-token-0123456789' })],
    ['admin route with a control character in communityId', 400, admin('/admin/boosts', json({ communityId: 'c\u0007x', months: 1, reason: 'r' }))],
    ['admin route with "\\u0000" in reason', 400, admin('/admin/boosts', json({ communityId: 'c1', months: 1, reason: 'a\u0000b' }))],
    ['admin route without Idempotency-Key', 400, admin('/admin/boosts', json({ communityId: 'c1', months: 1, reason: 'r' }), { 'idempotency-key': null })],
    ['member route with __proto__', 400, admin('/badges/purchase', '{"memberId":"m1","communityId":"c1","badgeId":"b1","__proto__":{"x":1}}')],
    ['member route with SQL in badgeId', 422, admin('/badges/purchase', json({ memberId: 'm1', communityId: 'c1', badgeId: SQL }))]
  ]
  t.ok(cases.length >= 30, `${cases.length} cases`)

  const outcomes: Record<string, number> = {}
  const kept = new Map<string, string>()
  let worst = 0
  for (const [i, [name, expected, run]] of cases.entries()) {
    const replica = replicas[i % replicas.length]!
    const rowsBefore = await counts()
    const answer = await run(replica.url)
    worst = Math.max(worst, answer.ms)
    outcomes[answer.status] = (outcomes[answer.status] ?? 0) + 1
    let body: { error?: unknown, message?: unknown, status?: unknown, eventId?: unknown } = {}
    try { body = JSON.parse(answer.body) as typeof body } catch {}
    if (typeof expected === 'number') {
      t.equal(answer.status, expected, `${name}: ${expected}`)
      t.ok(typeof body.error === 'string' && typeof body.message === 'string', `${name}: JSON { error, message }`)
      t.same(await counts(), rowsBefore, `${name}: nothing written`)
    } else {
      t.equal(answer.status, 200, `${name}: 200, kept`)
      t.equal(body.status, expected, `${name}: ${expected}`)
      if (typeof body.eventId === 'string') kept.set(body.eventId, expected)
    }
    t.notMatch(answer.body, /\bat .+\.(js|ts):\d+|node_modules/, `${name}: no stack trace`)
    const alive = await probe(`${replica.url}/health/live`)
    if (alive.status !== 200) t.fail(`${name}: the replica stopped serving (${alive.status})`)
  }

  const rows = await database.query<{ event_id: string, status: string }>('select event_id, status from webhook_events')
  t.same(new Map(rows.map((row) => [row.event_id, row.status])), kept, 'the inbox holds exactly the signed events past their envelope, each in its status')
  t.same(await lockKeys(redis), [], 'no lock taken, or left')
  t.same([...await markedIds(redis)].sort(), [...kept.keys()].sort(), 'processed markers only for the events kept')
  for (const replica of replicas) {
    t.equal(replica.child.exitCode, null, 'no replica crashed')
    const ok = await send(replica.url, '/billing/webhook', signed(valid), valid)
    t.ok(ok.status === 200, `and each still serves (${ok.status} ${ok.body})`)
  }
  t.same(leaks(cluster), [], 'no secret, token, password or signature in any log line')
  const row: Summary = { scenario: `7. hostile input: ${cases.length} cases over 3 replicas`, requests: cases.length, outcomes, worstMs: Math.round(worst) }
  printTable([row])
})
