// A signed event whose payload Postgres cannot keep as jsonb (U+0000, an unpaired surrogate) or that nests
// deeper than JSON.stringify survives is no longer refused: `storable` makes a copy Postgres accepts and says
// what it replaced, and the inbox keeps the event needs_review with that reason. Real Postgres judges the copy.
import t from 'tap'
import pg from 'pg'
import { MAX_PAYLOAD_DEPTH, storable } from '../../services/paddle/envelope.js'
import { ADMIN_DATABASE_URL } from '../helpers/env.js'

const base = (data: Record<string, unknown> = {}) => ({
  event_id: 'evt_01abc',
  event_type: 'transaction.completed',
  occurred_at: '2026-11-20T10:00:00Z',
  data: { id: 'txn_01abc', custom_data: { community_id: 'c_1' }, ...data }
})

function nested (depth: number): unknown {
  let value: unknown = 1
  for (let i = 0; i < depth; i++) value = [value]
  return value
}

function depthOf (value: unknown): number {
  let depth = 0
  for (let current = value; Array.isArray(current); current = current[0]) depth++
  return depth
}

/** Whether Postgres takes the text as jsonb (or as text): the test of "storable" that matters. */
async function postgresTakes (client: pg.Client, json: string, type: 'jsonb' | 'text' = 'jsonb'): Promise<boolean> {
  try {
    await client.query(`select $1::${type}`, [json])
    return true
  } catch {
    return false
  }
}

t.test('a payload Postgres can keep comes back as it is, with no problem', async (t) => {
  const body = base({ note: 'emoji \ud83d\ude00 and accents é', items: [{ quantity: 2 }], deep: nested(MAX_PAYLOAD_DEPTH - 3) })
  const result = storable(body)
  t.equal(result.payload, body, 'the same object: nothing copied')
  t.equal(result.problem, undefined)
  t.same(storable('text'), { payload: 'text' })
  t.same(storable(null), { payload: null })
})

t.test('U+0000 and unpaired surrogates, in values or keys, become U+FFFD; the problem says where the first one was', async (t) => {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
  await client.connect()
  t.teardown(() => client.end())
  const cases: Array<[string, Record<string, unknown>, RegExp, (payload: ReturnType<typeof base>) => unknown, unknown]> = [
    ['U+0000 in an extra field', base({ note: 'a\u0000b' }), /^\/data\/note: .*U\+0000/, (p) => (p.data as Record<string, unknown>).note, 'a\ufffdb'],
    ['U+0000 in custom_data', base({ custom_data: { community_id: 'c_1', note: '\u0000' } }), /^\/data\/custom_data\/note: /,
      (p) => (p.data.custom_data as Record<string, unknown>).note, '\ufffd'],
    ['U+0000 in an array', base({ items: ['ok', 'x\u0000'] }), /^\/data\/items\/1: /, (p) => (p.data as Record<string, unknown>).items, ['ok', 'x\ufffd']],
    ['U+0000 in a key', base({ 'no\u0000te': 1 }), /^\/data\/no\ufffdte: /, (p) => Object.keys(p.data).sort(), ['custom_data', 'id', 'no\ufffdte']],
    ['a lone high surrogate', base({ note: '\ud800' }), /unpaired surrogate/, (p) => (p.data as Record<string, unknown>).note, '\ufffd'],
    ['a lone low surrogate', base({ note: 'x\udc00' }), /unpaired surrogate/, (p) => (p.data as Record<string, unknown>).note, 'x\ufffd'],
    ['a reversed pair', base({ note: '\ude00\ud83d' }), /unpaired surrogate/, (p) => (p.data as Record<string, unknown>).note, '\ufffd\ufffd']
  ]
  for (const [name, body, problem, read, expected] of cases) {
    const original = structuredClone(body)
    t.notOk(await postgresTakes(client, JSON.stringify(body)), `${name}: Postgres refuses the payload as sent`)
    const result = storable(body)
    t.match(result.problem, problem, `${name}: the problem names where`)
    t.ok(await postgresTakes(client, result.problem ?? '', 'text'), `${name}: the problem is text Postgres can keep as the reason`)
    t.same(read(result.payload as ReturnType<typeof base>), expected, `${name}: replaced by U+FFFD`)
    t.same(body, original, `${name}: the event itself is not changed`)
    t.ok(await postgresTakes(client, JSON.stringify(result.payload)), `${name}: Postgres takes the copy`)
    t.match(result.payload, { event_id: 'evt_01abc', data: { id: 'txn_01abc' } }, `${name}: everything else is kept`)
  }
  const two = storable(base({ first: '\u0000', second: '\ud800' }))
  t.match(two.problem, /^\/data\/(first|second): /, 'one problem is named, and only one')
  t.same([(two.payload as { data: Record<string, unknown> }).data.first, (two.payload as { data: Record<string, unknown> }).data.second], ['\ufffd', '\ufffd'], 'both are replaced')
})

t.test(`nesting deeper than ${MAX_PAYLOAD_DEPTH} levels is cut at that depth and said so, however deep`, async (t) => {
  // The event sits 2 levels down (body, data); the note adds the rest.
  const within = storable(base({ note: nested(MAX_PAYLOAD_DEPTH - 3) }))
  t.equal(within.problem, undefined, 'just within the bound')
  const past = storable(base({ note: nested(MAX_PAYLOAD_DEPTH) }))
  t.match(past.problem, /^\/data\/note(\/0)+\.\.\.: nested deeper than 64 levels, stored cut$/, 'the path, cut to 100 characters')
  const note = (past.payload as { data: { note: unknown } }).data.note
  t.equal(depthOf(note), MAX_PAYLOAD_DEPTH - 2, 'the arrays above the bound are kept')
  let leaf: unknown = note
  while (Array.isArray(leaf)) leaf = leaf[0]
  t.equal(leaf, '[cut: nested deeper than 64 levels]', 'and the cut is marked in the payload')

  const huge = base({ note: nested(200_000) })
  t.throws(() => JSON.stringify(huge), RangeError, 'JSON.stringify itself overflows on the event as sent')
  const cut = storable(huge)
  t.match(cut.problem, /nested deeper than 64 levels/, '200,000 levels: cut, no stack overflow')
  t.ok(JSON.stringify(cut.payload).length < 1000, 'the copy is small and can be written')

  const longKey = storable(base({ ['k'.repeat(10_000)]: nested(MAX_PAYLOAD_DEPTH) }))
  t.ok(longKey.problem !== undefined && longKey.problem.length < 200, 'a huge key is not echoed whole in the reason')
  t.match(longKey.problem, /^\/data\/k{94}\.\.\.: nested deeper/)
})
