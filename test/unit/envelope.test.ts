// The envelope is all a signed event must have to be kept: event_id, event_type, occurred_at and data.
// Whatever lies inside data is the handlers' to read (and to send to review), never a reason for a 400.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { checkEnvelope } from '../../services/paddle/envelope.js'

const base = () => ({
  event_id: 'evt_01abc',
  event_type: 'subscription.created',
  occurred_at: '2026-11-20T10:00:00.123456Z',
  notification_id: 'ntf_01abc',
  data: { id: 'sub_01abc', status: 'active', custom_data: { community_id: 'c_1' } }
})
const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8'))

t.test('a valid envelope passes as it is, every extra field kept', async (t) => {
  const event = { ...base(), extra: { nested: [1, 2] }, data: { ...base().data, items: [{ price: {} }] } }
  const checked = checkEnvelope(event)
  t.equal(checked.ok, true)
  t.equal(checked.ok && checked.event, event, 'the same object: nothing dropped, nothing coerced')
  t.equal(checkEnvelope(fixture('paddle-transaction-completed.json')).ok, true, "Paddle's full transaction shape")
  t.equal(checkEnvelope(fixture('paddle-subscription-created.json')).ok, true, "Paddle's full subscription shape")
})

t.test('a body without the four fields is refused with a message naming the field', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['an array', [base()], /JSON object/],
    ['null', null, /JSON object/],
    ['a string', 'evt', /JSON object/],
    ['a number', 42, /JSON object/],
    ['no event_id', { ...base(), event_id: undefined }, /event_id/],
    ['an empty event_id', { ...base(), event_id: '' }, /event_id/],
    ['a 10 KB event_id', { ...base(), event_id: 'e'.repeat(10_000) }, /event_id/],
    ['a number as event_id', { ...base(), event_id: 42 }, /event_id/],
    ['a newline in event_id', { ...base(), event_id: 'evt_1\n' }, /event_id/],
    ['U+0000 in event_id', { ...base(), event_id: 'evt_1\u0000' }, /event_id/],
    ['DEL in event_id', { ...base(), event_id: 'evt_1\u007f' }, /event_id/],
    ['no event_type', { ...base(), event_type: undefined }, /event_type/],
    ['a number as event_type', { ...base(), event_type: 7 }, /event_type/],
    ['a tab in event_type', { ...base(), event_type: 'subscription.\tcreated' }, /event_type/],
    ['a 129-character event_type', { ...base(), event_type: 't'.repeat(129) }, /event_type/],
    ['no occurred_at', { ...base(), occurred_at: undefined }, /occurred_at/],
    ['occurred_at in words', { ...base(), occurred_at: 'yesterday' }, /occurred_at/],
    ['occurred_at as a number', { ...base(), occurred_at: 1_790_000_000 }, /occurred_at/],
    ['occurred_at without a zone', { ...base(), occurred_at: '2026-11-20T10:00:00' }, /occurred_at/],
    ['an impossible date', { ...base(), occurred_at: '2026-13-45T99:99:99Z' }, /occurred_at/],
    ['no data', { ...base(), data: undefined }, /data/],
    ['data as a string', { ...base(), data: 'x' }, /data/],
    ['data as a list', { ...base(), data: [{ id: 'sub_1' }] }, /data/],
    ['data null', { ...base(), data: null }, /data/]
  ]
  for (const [name, body, field] of cases) {
    const checked = checkEnvelope(body)
    t.equal(checked.ok, false, name)
    t.match(!checked.ok && checked.message, field, `${name}: the message names the field`)
  }
})

t.test('ids are any printable text of 1 to 128 characters: 128 pass, 129 do not', async (t) => {
  const id = (n: number) => `e${'x'.repeat(n - 1)}`
  t.equal(checkEnvelope({ ...base(), event_id: id(128) }).ok, true)
  t.equal(checkEnvelope({ ...base(), event_id: id(129) }).ok, false)
  // Parameters bind them and JSON escapes them: none of these can reach a query or a log line as syntax.
  for (const printable of ["evt_1'; drop table webhook_events; --", 'evt "1"', 'évt_1', 'evt/1', '{evt}', '会員🚀', 'evt_01h.x:y-z']) {
    t.equal(checkEnvelope({ ...base(), event_id: printable }).ok, true, JSON.stringify(printable))
  }
  t.equal(checkEnvelope({ ...base(), event_type: 'DROP TABLE' }).ok, true, 'an odd event_type is kept: the inbox records it ignored')
})

t.test('what lies inside data never fails the envelope: the handler that reads it decides', async (t) => {
  const kept: Array<[string, Record<string, unknown>]> = [
    ['a number as data.id', { id: 42 }],
    ['a 129-character data.id', { id: `s${'x'.repeat(128)}` }],
    ['a number as customer_id', { id: 's', customer_id: 42 }],
    ['a boolean status', { id: 's', status: true }],
    ['SQL in community_id', { custom_data: { community_id: "1' or '1'='1" } }],
    ['months out of range in custom_data', { custom_data: { months: 99 } }],
    ['custom_data as a string', { custom_data: 'boost' }],
    ['a total that is not an amount', { details: { totals: { total: 15.5 } } }],
    ['nothing at all', {}]
  ]
  for (const [name, data] of kept) t.equal(checkEnvelope({ ...base(), data }).ok, true, name)
  t.equal(checkEnvelope({ ...base(), notification_id: 42 }).ok, true, 'notification_id is not the envelope\'s business')
})

t.test('timestamps as Paddle writes them, and old ones, all pass', async (t) => {
  const times = [
    '2026-11-20T10:00:00Z',
    '2026-11-20T10:00:00.123456Z',
    '2026-11-20T10:00:00.123456789+02:00',
    '2026-11-20t10:00:00z',
    '2026-11-20 10:00:00-05:30',
    '2001-01-01T00:00:00Z'
  ]
  for (const occurredAt of times) {
    const checked = checkEnvelope({ ...base(), occurred_at: occurredAt })
    t.equal(checked.ok, true, `${occurredAt}: ${checked.ok ? 'passes' : checked.message}`)
    t.equal(checked.ok && checked.event.occurred_at, occurredAt, 'kept verbatim, at full precision')
  }
})

t.test('nulls where Paddle sends them, and unknown fields at every level, all pass', async (t) => {
  const ok = [
    { ...base(), notification_id: null, data: { id: 's_1', customer_id: null, subscription_id: null, custom_data: null, details: null, current_billing_period: null } },
    { ...base(), data: { ...base().data, custom_data: { community_id: 'c_1', utm_source: 'x', nested: { deep: [1, 'two', null] } } } },
    { ...base(), data: { ...base().data, items: [{ price: { unit_price: { amount: '100' } } }], payments: [], checkout: { url: 'https://x' }, billing_details: null } },
    { ...base(), future_top_level_field: { anything: true } }
  ]
  for (const body of ok) {
    const checked = checkEnvelope(body)
    t.equal(checked.ok, true, checked.ok ? 'passes' : checked.message)
  }
})

t.test('an occurred_at Postgres cannot store is refused here, naming the field, not failed on every delivery', async (t) => {
  // Date.parse takes each of these (it rolls February 30 into March); Postgres's timestamptz refuses them.
  const refused: Array<[string, RegExp]> = [
    ['2026-02-30T00:00:00Z', /day 30 is past the end of month 2/],
    ['2026-04-31T10:00:00.123456Z', /day 31 is past the end of month 4/],
    ['2027-02-29T10:00:00Z', /day 29 is past the end of month 2/],
    ['2100-02-29T10:00:00Z', /day 29/],
    ['0000-01-01T00:00:00Z', /year 0000/],
    ['2026-11-20T10:00:00+16:00', /offset \+16:00 is beyond/],
    ['2026-11-20T10:00:00-23:59', /offset -23:59 is beyond/]
  ]
  for (const [occurredAt, why] of refused) {
    t.equal(Number.isNaN(Date.parse(occurredAt)), false, `${occurredAt}: Date.parse alone takes it`)
    const checked = checkEnvelope({ ...base(), occurred_at: occurredAt })
    t.equal(checked.ok, false, occurredAt)
    t.match(!checked.ok && checked.message, /^\/occurred_at: /, `${occurredAt}: names the field`)
    t.match(!checked.ok && checked.message, why, `${occurredAt}: says why`)
  }
  for (const occurredAt of ['2028-02-29T10:00:00Z', '2000-02-29T10:00:00Z', '2026-12-31T23:59:59.999999Z', '2026-11-20T10:00:00+15:59', '2026-11-20T10:00:00-12:00', '0001-01-01T00:00:00Z']) {
    t.equal(checkEnvelope({ ...base(), occurred_at: occurredAt }).ok, true, `${occurredAt}: stored as it is`)
  }
})
