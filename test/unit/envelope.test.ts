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

t.test('ids are bounded: 128 characters pass, 129 do not', async (t) => {
  const id = (n: number) => `e${'x'.repeat(n - 1)}`
  t.equal(checkEnvelope({ ...base(), event_id: id(128) }).ok, true)
  t.equal(checkEnvelope({ ...base(), event_id: id(129) }).ok, false)
  t.equal(checkEnvelope({ ...base(), data: { id: id(129) } }).ok, false, 'data.id')
  t.equal(checkEnvelope({ ...base(), data: { customer_id: id(129) } }).ok, false, 'data.customer_id')
  t.equal(checkEnvelope({ ...base(), data: { custom_data: { member_id: id(129) } } }).ok, false, 'custom_data.member_id')
  t.equal(checkEnvelope({ ...base(), event_id: '' }).ok, false, 'empty')
})

t.test('ids carry nothing a query or a log line could trip on', async (t) => {
  for (const bad of ["evt_1'", 'evt_1"', 'evt 1', 'evt_1\n', 'evt_1;', '-evt', 'évt_1', 'evt_1\u0000', 'evt/1', '{evt}']) {
    t.equal(checkEnvelope({ ...base(), event_id: bad }).ok, false, JSON.stringify(bad))
  }
  t.equal(checkEnvelope({ ...base(), event_id: 'evt_01h.x:y-z' }).ok, true, 'letters, digits, _ . : - pass')
})

t.test('numbers, booleans or objects where strings belong are refused', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['data.id', { ...base(), data: { id: 42 } }, /data\/id/],
    ['customer_id', { ...base(), data: { customer_id: 42 } }, /customer_id/],
    ['subscription_id', { ...base(), data: { subscription_id: 42 } }, /subscription_id/],
    ['notification_id', { ...base(), notification_id: 42 }, /notification_id/],
    ['status', { ...base(), data: { status: true } }, /status/],
    ['community_id', { ...base(), data: { custom_data: { community_id: 7 } } }, /community_id/],
    ['tier', { ...base(), data: { custom_data: { tier: ['pro'] } } }, /tier/],
    ['currency_code', { ...base(), data: { currency_code: 840 } }, /currency_code/],
    ['occurred_at', { ...base(), occurred_at: 1_790_000_000 }, /occurred_at/],
    ['data as a string', { ...base(), data: 'x' }, /data/],
    ['custom_data as a string', { ...base(), data: { custom_data: 'boost' } }, /custom_data/]
  ]
  for (const [name, body, field] of cases) {
    const checked = checkEnvelope(body)
    t.equal(checked.ok, false, name)
    t.match(!checked.ok && checked.message, field, `${name}: the message names the field`)
  }
})

t.test('nulls where Paddle sends them, timestamps with offsets and nanoseconds, and unknown fields all pass', async (t) => {
  const ok = [
    { ...base(), notification_id: null, data: { id: 's_1', customer_id: null, subscription_id: null, custom_data: null, details: null, current_billing_period: null } },
    { ...base(), occurred_at: '2026-11-20T10:00:00.123456789+02:00' },
    { ...base(), occurred_at: '2026-11-20T10:00:00Z' },
    { ...base(), data: { ...base().data, custom_data: { community_id: 'c_1', utm_source: 'x', nested: { deep: [1, 'two', null] } } } },
    { ...base(), data: { ...base().data, items: [{ price: { unit_price: { amount: '100' } } }], payments: [], checkout: { url: 'https://x' }, billing_details: null } },
    { ...base(), future_top_level_field: { anything: true } }
  ]
  for (const body of ok) {
    const checked = checkEnvelope(body)
    t.equal(checked.ok, true, checked.ok ? 'passes' : checked.message)
  }
  const sub = JSON.parse(readFileSync(new URL('../fixtures/paddle-subscription-created.json', import.meta.url), 'utf8'))
  t.equal(checkEnvelope(sub).ok, true, "Paddle's full subscription shape")
})
