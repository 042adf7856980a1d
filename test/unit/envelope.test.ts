import t from 'tap'
import { readFileSync } from 'node:fs'
import { checkEnvelope } from '../../services/paddle/envelope.js'

const base = () => ({
  event_id: 'evt_01abc',
  event_type: 'subscription.created',
  occurred_at: '2026-11-20T10:00:00.123456Z',
  notification_id: 'ntf_01abc',
  data: { id: 'sub_01abc', status: 'active', custom_data: { community_id: 'c_1', tier: 'pro' } }
})

t.test('a valid envelope passes, with every extra field kept', async (t) => {
  const event = { ...base(), extra: { nested: [1, 2] }, data: { ...base().data, items: [{ price: {} }] } }
  const checked = checkEnvelope(event)
  t.equal(checked.ok, true)
  t.same(checked.ok && checked.event, event)
  const full = JSON.parse(readFileSync(new URL('../fixtures/paddle-transaction-completed.json', import.meta.url), 'utf8'))
  t.equal(checkEnvelope(full).ok, true, "Paddle's full transaction shape")
})

t.test('invalid envelopes are refused with a message naming the field', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['an array', [base()], /JSON object/],
    ['null', null, /JSON object/],
    ['a string', 'evt', /JSON object/],
    ['no event_id', { ...base(), event_id: undefined }, /event_id/],
    ['a 10 KB event_id', { ...base(), event_id: 'e'.repeat(10_000) }, /event_id/],
    ['SQL in event_id', { ...base(), event_id: "evt_1'; drop table webhook_events; --" }, /event_id/],
    ['quotes in data.id', { ...base(), data: { id: 'sub_"1"' } }, /data\/id/],
    ['a number as event_id', { ...base(), event_id: 42 }, /event_id/],
    ['a number as event_type', { ...base(), event_type: 7 }, /event_type/],
    ['an odd event_type', { ...base(), event_type: 'DROP TABLE' }, /event_type/],
    ['a bad occurred_at', { ...base(), occurred_at: 'yesterday' }, /occurred_at/],
    ['an impossible date', { ...base(), occurred_at: '2026-13-45T99:99:99Z' }, /occurred_at/],
    ['no data', { ...base(), data: undefined }, /data/],
    ['SQL in community_id', { ...base(), data: { custom_data: { community_id: "1' or '1'='1" } } }, /community_id/],
    ['months out of range', { ...base(), data: { custom_data: { months: 99 } } }, /months/],
    ['months as a string', { ...base(), data: { custom_data: { months: '3' } } }, /months/],
    ['a total that is not an amount', { ...base(), data: { details: { totals: { total: 15.5 } } } }, /total/]
  ]
  for (const [name, body, field] of cases) {
    const checked = checkEnvelope(body)
    t.equal(checked.ok, false, name)
    t.match(!checked.ok && checked.message, field, name)
  }
})
