// The envelope refuses what Postgres cannot store as jsonb (or JSON.stringify cannot write): a 400, not
// a 500 on every one of the provider's retries. The fault suite sends the same cases to real processes.
import t from 'tap'
import { MAX_PAYLOAD_DEPTH, checkEnvelope } from '../../services/paddle/envelope.js'

const base = (data: Record<string, unknown> = {}) => ({
  event_id: 'evt_01abc',
  event_type: 'transaction.completed',
  occurred_at: '2026-11-20T10:00:00Z',
  data: { id: 'txn_01abc', custom_data: { type: 'boost_purchase', community_id: 'c_1' }, ...data }
})

function nested (depth: number): unknown {
  let value: unknown = 1
  for (let i = 0; i < depth; i++) value = [value]
  return value
}

t.test('U+0000 and unpaired surrogates anywhere, in values or keys, are refused with the field named', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['U+0000 in an extra field', base({ note: 'a\u0000b' }), /\/data\/note: .*U\+0000/],
    ['U+0000 in custom_data', base({ custom_data: { type: 'boost_purchase', note: '\u0000' } }), /\/data\/custom_data\/note/],
    ['U+0000 in an array', base({ items: ['ok', 'x\u0000'] }), /\/data\/items\/1/],
    ['U+0000 in a key', base({ 'no\u0000te': 1 }), /\/data: a key/],
    ['a lone high surrogate', base({ note: '\ud800' }), /unpaired surrogate/],
    ['a lone low surrogate', base({ note: 'x\udc00' }), /unpaired surrogate/]
  ]
  for (const [name, body, message] of cases) {
    const checked = checkEnvelope(body)
    t.equal(checked.ok, false, name)
    t.match(!checked.ok && checked.message, message, `${name}: the message says where`)
  }
  t.equal(checkEnvelope(base({ note: 'emoji \ud83d\ude00 and accents é' })).ok, true, 'a paired surrogate (an emoji) is fine')
})

t.test(`nesting deeper than ${MAX_PAYLOAD_DEPTH} levels is refused, however deep`, async (t) => {
  // The event itself sits 2 levels down (body, data); the note adds the rest.
  t.equal(checkEnvelope(base({ note: nested(MAX_PAYLOAD_DEPTH - 3) })).ok, true, 'just within the bound')
  const deep = checkEnvelope(base({ note: nested(MAX_PAYLOAD_DEPTH) }))
  t.equal(deep.ok, false, 'past it')
  t.match(!deep.ok && deep.message, /nested deeper than 64 levels/)
  t.equal(checkEnvelope(base({ note: nested(200_000) })).ok, false, '200,000 levels: refused, no stack overflow')
  const longKey = checkEnvelope(base({ ['k'.repeat(10_000)]: nested(MAX_PAYLOAD_DEPTH) }))
  t.ok(!longKey.ok && longKey.message.length < 200, 'a huge key is not echoed whole')
})
