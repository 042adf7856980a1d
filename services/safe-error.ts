// What a log line or the inbox may say about an error. drizzle's query errors carry the SQL parameters
// (the event payload) in their message and stack, and Postgres's `detail` quotes row values: none of that
// may leave the process.

/** The Postgres error under drizzle's wrapper (`err.cause`), with pg and PGlite alike. */
export function pgErrorOf (err: unknown): { code: string, message: string, constraint?: string } | undefined {
  let current: unknown = err
  for (let depth = 0; depth < 3 && current !== null && typeof current === 'object'; depth++) {
    const candidate = current as { code?: unknown, message?: unknown, constraint?: unknown, cause?: unknown }
    if (typeof candidate.code === 'string' && /^[0-9A-Z]{5}$/.test(candidate.code)) {
      return {
        code: candidate.code,
        message: typeof candidate.message === 'string' ? withoutValue(candidate.code, firstLine(candidate.message)) : '',
        ...(typeof candidate.constraint === 'string' ? { constraint: candidate.constraint } : {})
      }
    }
    current = candidate.cause
  }
  return undefined
}

const firstLine = (text: string): string => text.split('\n', 1)[0] ?? ''

/**
 * A data exception (SQLSTATE class 22) quotes the input it refused: `invalid input syntax for type
 * integer: "<a payload value>"`. The message keeps what was wrong, not the value.
 */
function withoutValue (code: string, message: string): string {
  return code.startsWith('22') ? message.replace(/: ".*$/, ': "[value withheld]"') : message
}
const MAX_MESSAGE = 300

/** One short line naming what failed: the Postgres error when there is one, else the error's first line. */
export function shortError (err: unknown): string {
  const pg = pgErrorOf(err)
  const message = pg !== undefined
    ? `postgres ${pg.code}: ${pg.message}`
    : err instanceof Error
      ? `${err.name}: ${firstLine(err.message)}`
      : firstLine(String(err))
  // drizzle's own first line is "Failed query: <the SQL text>": keep it short, whatever it holds.
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}...` : message
}

/** pino's `err` serializer: type, a short message, codes and the call stack, nothing that quotes data. */
export function safeErrorSerializer (err: unknown): { type: string, message: string, stack: string, [key: string]: unknown } {
  if (err === null || typeof err !== 'object') return { type: typeof err, message: shortError(err), stack: '' }
  const error = err as { name?: unknown, code?: unknown, statusCode?: unknown, stack?: unknown }
  const pg = pgErrorOf(err)
  const frames = typeof error.stack === 'string'
    ? error.stack.split('\n').filter((line) => line.startsWith('    at ')).join('\n')
    : undefined
  return {
    type: typeof error.name === 'string' ? error.name : 'Error',
    message: shortError(err),
    ...(typeof error.code === 'string' ? { code: error.code } : {}),
    ...(typeof error.statusCode === 'number' ? { statusCode: error.statusCode } : {}),
    ...(pg !== undefined ? { pgCode: pg.code, ...(pg.constraint !== undefined ? { constraint: pg.constraint } : {}) } : {}),
    stack: frames ?? ''
  }
}
