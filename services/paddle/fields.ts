// Reading what Paddle and real checkouts send, leniently: numbers where strings were expected, strings
// where numbers were, nulls, capitals, fields we never heard of. A reader answers a value, or nothing
// (absent), or a reason that names the field (the event then waits for an operator as needs_review).

export type Read<T> = { ok: true, value: T } | { ok: false, reason: string }

const MAX_ID = 128
// eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
const CONTROL = /[\u0000-\u001f\u007f]/

/** `value` as an object, or undefined when it is anything else (null, an array, a string...). */
export function record (value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : undefined
}

/**
 * An id: any printable text up to 128 characters, or a whole number, which becomes its decimal string
 * (`42` and `"42"` name the same community). Absent (undefined, null or empty text) answers undefined.
 */
export function readId (value: unknown, field: string): Read<string> | undefined {
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value === 'number') {
    return Number.isSafeInteger(value)
      ? { ok: true, value: String(value) }
      : { ok: false, reason: `${field} must be text or a whole number (got ${value})` }
  }
  if (typeof value !== 'string') return { ok: false, reason: `${field} must be text or a whole number (got ${kind(value)})` }
  if (value.length > MAX_ID) return { ok: false, reason: `${field} is longer than ${MAX_ID} characters` }
  if (CONTROL.test(value)) return { ok: false, reason: `${field} holds a control character` }
  return { ok: true, value }
}

/** Like readId, but absent is a reason too: the field is needed. */
export function requireId (value: unknown, field: string): Read<string> {
  return readId(value, field) ?? { ok: false, reason: `${field} is missing` }
}

/** A positive whole number, from a number or from its decimal text (`2`, `"2"`); absent is `fallback`. */
export function readCount (value: unknown, field: string, fallback: number): Read<number> {
  if (value === undefined || value === null) return { ok: true, value: fallback }
  const number = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value
  return typeof number === 'number' && Number.isSafeInteger(number) && number >= 1
    ? { ok: true, value: number }
    : { ok: false, reason: `${field} must be a positive whole number (got ${JSON.stringify(value)})` }
}

/** Text, lowercased (Paddle's enums are lowercase; a capitalised one means the same), or undefined. */
export function readWord (value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' && value.length <= 64 ? value.trim().toLowerCase() : undefined
}

/** An RFC 3339 timestamp as Postgres will read it, or undefined when absent or not a date. */
export function readTimestamp (value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= 64 && !Number.isNaN(Date.parse(value)) ? value : undefined
}

function kind (value: unknown): string {
  return Array.isArray(value) ? 'a list' : value === null ? 'null' : typeof value === 'object' ? 'an object' : typeof value
}
