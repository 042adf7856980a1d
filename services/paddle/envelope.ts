// The Paddle Billing notification envelope: the four fields every event has, and nothing else. Whatever
// lies inside `data` (custom_data included) is read by the handler that uses it, leniently, so that a
// signed event is never refused for its content (ARCHITECTURE.md, "Never lose an authentic event").
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'

// Printable text without control characters: safe in a Redis key, a log line and a Postgres key alike.
const PRINTABLE = '^[^\\u0000-\\u001f\\u007f]+$'
const RFC3339 = '^\\d{4}-\\d{2}-\\d{2}[Tt ]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?([Zz]|[+-]\\d{2}:\\d{2})$'

export const Envelope = Type.Object({
  event_id: Type.String({ minLength: 1, maxLength: 128, pattern: PRINTABLE }),
  event_type: Type.String({ minLength: 1, maxLength: 128, pattern: PRINTABLE }),
  occurred_at: Type.String({ maxLength: 64, pattern: RFC3339 }),
  data: Type.Object({}, { additionalProperties: true })
}, { additionalProperties: true })

export type PaddleEvent = Static<typeof Envelope> & { data: Record<string, unknown> }

const check = TypeCompiler.Compile(Envelope)

export type EnvelopeCheck = { ok: true, event: PaddleEvent } | { ok: false, message: string }

/** Validates a parsed body's envelope; the message names the first offending field. */
export function checkEnvelope (body: unknown): EnvelopeCheck {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, message: 'the body must be a JSON object' }
  }
  const error = check.Errors(body).First()
  if (error !== undefined) {
    const field = error.path === '' ? 'body' : error.path
    return { ok: false, message: `${field}: ${error.message}` }
  }
  const event = body as PaddleEvent
  // The pattern admits impossible dates (month 13, hour 25).
  if (Number.isNaN(Date.parse(event.occurred_at))) return { ok: false, message: '/occurred_at: is not a valid date' }
  const unstorable = unstorableTime(event.occurred_at)
  if (unstorable !== undefined) return { ok: false, message: `/occurred_at: ${unstorable}` }
  return { ok: true, event }
}

/**
 * Why Postgres's timestamptz would refuse a time Date.parse takes, or undefined. Date.parse rolls
 * February 30 over into March and takes year 0 and any offset to ±23:59; the record casts occurred_at,
 * so such an event would fail on every delivery without ever being kept.
 */
function unstorableTime (text: string): string | undefined {
  const [, year, month, day] = /^(\d{4})-(\d{2})-(\d{2})/.exec(text)?.map(Number) ?? []
  if (year === undefined || month === undefined || day === undefined) return undefined
  if (year < 1) return 'year 0000 is not a date Postgres can store'
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 31
  if (day > days) return `day ${day} is past the end of month ${month}`
  const offset = /([+-])(\d{2}):(\d{2})$/.exec(text)
  if (offset !== null && Number(offset[2]) * 60 + Number(offset[3]) > 15 * 60 + 59) return `the offset ${offset[0]} is beyond ±15:59`
  return undefined
}

/** Far deeper than any Paddle payload, far shallower than what overflows JSON.stringify (about 10,000 levels). */
export const MAX_PAYLOAD_DEPTH = 64
// What Postgres refuses in jsonb: U+0000, and a UTF-16 surrogate without its pair.
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what this looks for
const UNSTORABLE_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const UNSTORABLE_TEXT_ALL = new RegExp(UNSTORABLE_TEXT.source, 'g')

export interface Storable {
  payload: unknown
  /** Set when something had to be replaced: what, and where first. */
  problem?: string
}

/**
 * The payload as Postgres can keep it in jsonb. A signed event may carry text jsonb refuses (U+0000, a
 * lone surrogate) or nesting deep enough to overflow JSON.stringify; such an event is still kept, with
 * those strings replaced by U+FFFD and the too-deep parts by a marker, and the caller records it
 * `needs_review` with `problem` as the reason. The walk is iterative, so depth cannot overflow it.
 */
export function storable (body: unknown): Storable {
  // Almost every payload is storable as sent: a read-only scan answers that without copying anything.
  if (!needsReplacing(body)) return { payload: body }
  let problem: string | undefined
  const note = (path: string, what: string) => {
    problem ??= `${path === '' ? 'body' : path.length > 100 ? `${path.slice(0, 100)}...` : path}: ${what}`
  }
  const clean = (text: string, path: string) => {
    if (!UNSTORABLE_TEXT.test(text)) return text
    note(path, 'a string held U+0000 or an unpaired surrogate, stored as U+FFFD')
    return text.replace(UNSTORABLE_TEXT_ALL, '\ufffd')
  }
  const root: { value: unknown } = { value: undefined }
  const stack: Array<{ value: unknown, path: string, depth: number, put: (value: unknown) => void }> = [
    { value: body, path: '', depth: 0, put: (value) => { root.value = value } }
  ]
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, path, depth, put } = item
    if (typeof value === 'string') { put(clean(value, path)); continue }
    if (value === null || typeof value !== 'object') { put(value); continue }
    if (depth >= MAX_PAYLOAD_DEPTH) {
      note(path, `nested deeper than ${MAX_PAYLOAD_DEPTH} levels, stored cut`)
      put(`[cut: nested deeper than ${MAX_PAYLOAD_DEPTH} levels]`)
      continue
    }
    if (Array.isArray(value)) {
      const copy: unknown[] = new Array(value.length)
      put(copy)
      value.forEach((child, i) => stack.push({ value: child, path: `${path}/${i}`, depth: depth + 1, put: (v) => { copy[i] = v } }))
      continue
    }
    const copy: Record<string, unknown> = {}
    put(copy)
    for (const [key, child] of Object.entries(value)) {
      // The path names the key as stored: the problem becomes the event's reason, a text column that
      // refuses U+0000 as jsonb does.
      const safeKey = clean(key, `${path}/${key.replace(UNSTORABLE_TEXT_ALL, '\ufffd')}`)
      stack.push({ value: child, path: `${path}/${safeKey}`, depth: depth + 1, put: (v) => { copy[safeKey] = v } })
    }
  }
  return problem === undefined ? { payload: body } : { payload: root.value, problem }
}

/** Whether `storable` has anything to replace: a string or key jsonb refuses, or nesting past the limit. */
function needsReplacing (body: unknown): boolean {
  const stack: Array<{ value: unknown, depth: number }> = [{ value: body, depth: 0 }]
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, depth } = item
    if (typeof value === 'string') {
      if (UNSTORABLE_TEXT.test(value)) return true
      continue
    }
    if (value === null || typeof value !== 'object') continue
    if (depth >= MAX_PAYLOAD_DEPTH) return true
    for (const [key, child] of Object.entries(value)) {
      if (UNSTORABLE_TEXT.test(key)) return true
      stack.push({ value: child, depth: depth + 1 })
    }
  }
  return false
}
