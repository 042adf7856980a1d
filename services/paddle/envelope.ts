// The Paddle Billing notification envelope: checks what the service reads, bounds ids, lets the rest pass.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { ValueError } from '@sinclair/typebox/errors'

/** Provider and community ids: short, and nothing a log line or a query could trip on. */
export const Id = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*$' })
const Timestamp = Type.String({
  maxLength: 40,
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$'
})
const Nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]))

/** `custom_data` is ours (set at checkout), so the fields we act on are strict; others pass. */
export const CustomData = Type.Object({
  type: Type.Optional(Type.String({ maxLength: 64, pattern: '^[a-z_]+$' })),
  community_id: Type.Optional(Id),
  member_id: Type.Optional(Id),
  badge_id: Type.Optional(Id),
  purchase_id: Type.Optional(Id),
  tier: Type.Optional(Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z0-9_-]+$' })),
  months: Type.Optional(Type.Integer({ minimum: 1, maximum: 24 }))
}, { additionalProperties: true })

export const EventData = Type.Object({
  id: Type.Optional(Id),
  status: Type.Optional(Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z_]+$' })),
  customer_id: Nullable(Id),
  subscription_id: Nullable(Id),
  custom_data: Nullable(CustomData),
  currency_code: Nullable(Type.String({ pattern: '^[A-Z]{3}$' })),
  current_billing_period: Nullable(Type.Object({ starts_at: Timestamp, ends_at: Timestamp })),
  details: Nullable(Type.Object({
    totals: Nullable(Type.Object({
      total: Type.Optional(Type.String({ maxLength: 24, pattern: '^-?\\d+$' })),
      currency_code: Nullable(Type.String({ pattern: '^[A-Z]{3}$' }))
    }))
  }))
}, { additionalProperties: true })

export const Envelope = Type.Object({
  event_id: Id,
  event_type: Type.String({ minLength: 3, maxLength: 64, pattern: '^[a-z_]+(\\.[a-z_]+)+$' }),
  occurred_at: Timestamp,
  notification_id: Nullable(Id),
  data: EventData
}, { additionalProperties: true })

export type PaddleEvent = Static<typeof Envelope>
export type PaddleCustomData = Static<typeof CustomData>

const check = TypeCompiler.Compile(Envelope)

export type EnvelopeCheck = { ok: true, event: PaddleEvent } | { ok: false, message: string }

/** Validates a parsed body; the message names the first offending field. */
export function checkEnvelope (body: unknown): EnvelopeCheck {
  if (check.Check(body)) {
    const badDate = impossibleDate(body)
    if (badDate !== undefined) return { ok: false, message: `${badDate} is not a valid date` }
    const unstorable = unstorableValue(body)
    if (unstorable !== undefined) return { ok: false, message: unstorable }
    return { ok: true, event: body }
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, message: 'the body must be a JSON object' }
  }
  const first = check.Errors(body).First()
  const error = first === undefined ? undefined : deepest(first)
  const field = error === undefined || error.path === '' ? 'body' : error.path
  return { ok: false, message: `${field}: ${error?.message ?? 'invalid'}` }
}

/**
 * The timestamp pattern admits impossible dates (month 13, hour 25). Every date a handler turns into a
 * Date is checked here: such an event is a malformed envelope (400, no handler runs), not a handler
 * that throws (500, an internal error on every one of the provider's retries).
 */
function impossibleDate (event: PaddleEvent): string | undefined {
  const period = event.data.current_billing_period
  const dates: Array<[string, string | undefined]> = [
    ['/occurred_at', event.occurred_at],
    ['/data/current_billing_period/starts_at', period?.starts_at],
    ['/data/current_billing_period/ends_at', period?.ends_at]
  ]
  return dates.find(([, value]) => value !== undefined && Number.isNaN(Date.parse(value)))?.[0]
}

/** Far deeper than any Paddle payload, far shallower than what overflows JSON.stringify (about 10,000 levels). */
export const MAX_PAYLOAD_DEPTH = 64
// What Postgres refuses in jsonb: U+0000, and a UTF-16 surrogate without its pair.
const UNSTORABLE_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/**
 * The whole payload is stored as jsonb with its record, extra fields included. Without this check a
 * signed event carrying "\u0000" or a lone surrogate anywhere, or nested thousands deep, fails that
 * insert (or JSON.stringify): a 500 on every one of the provider's retries instead of a 400. The walk
 * is iterative, so the depth it measures cannot overflow it.
 */
function unstorableValue (body: unknown): string | undefined {
  const stack: Array<{ value: unknown, path: string, depth: number }> = [{ value: body, path: '', depth: 0 }]
  const shown = (path: string) => path === '' ? 'body' : path.length > 100 ? `${path.slice(0, 100)}...` : path
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, path, depth } = item
    if (typeof value === 'string') {
      if (UNSTORABLE_TEXT.test(value)) return `${shown(path)}: a string holds U+0000 or an unpaired surrogate`
      continue
    }
    if (value === null || typeof value !== 'object') continue
    if (depth >= MAX_PAYLOAD_DEPTH) return `${shown(path)}: nested deeper than ${MAX_PAYLOAD_DEPTH} levels`
    for (const [key, child] of Object.entries(value)) {
      if (UNSTORABLE_TEXT.test(key)) return `${shown(path)}: a key holds U+0000 or an unpaired surrogate`
      stack.push({ value: child, path: `${path}/${key}`, depth: depth + 1 })
    }
  }
  return undefined
}

/** A nullable field fails as a union; name the innermost field that failed instead. */
function deepest (error: ValueError): ValueError {
  let best = error
  for (const branch of error.errors) {
    const inner = branch.First()
    if (inner !== undefined) {
      const candidate = deepest(inner)
      if (candidate.path.length > best.path.length) best = candidate
    }
  }
  return best
}
