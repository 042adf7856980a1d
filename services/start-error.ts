// Whatever a failed start threw, as one line a person can act on. JavaScript lets anything be thrown:
// drizzle wraps the database's error in `cause`, Node's connect gives an AggregateError with an empty
// message, and PGlite's file system throws a plain object, `{ name: 'ErrnoError', errno: 2 }`.

/** PGlite's file system is Emscripten's, whose errno numbers are WASI's, not the host's. */
const WASI_ERRNO: Record<number, string> = {
  2: 'EACCES',
  8: 'EBADF',
  20: 'EEXIST',
  28: 'EINVAL',
  29: 'EIO',
  31: 'EISDIR',
  33: 'EMFILE',
  44: 'ENOENT',
  48: 'ENOMEM',
  51: 'ENOSPC',
  54: 'ENOTDIR',
  55: 'ENOTEMPTY',
  63: 'EPERM',
  69: 'EROFS'
}

const MAX_PART = 300
const MAX_LINE = 600
const MAX_DEPTH = 4

/** One line naming what failed and why, for `Could not start: <line>`. Never throws. */
export function startErrorLine (thrown: unknown): string {
  const parts: string[] = []
  let current = thrown
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const part = describe(current)
    // drizzle repeats nothing, but a wrapper often does: "connect ECONNREFUSED" twice says nothing new.
    if (part !== '' && !parts.some((seen) => seen.includes(part))) parts.push(part)
    const cause = causeOf(current)
    if (cause === undefined) break
    current = cause
  }
  const line = parts.length > 0 ? parts.join(': ') : `${primitive(thrown)} was thrown`
  return line.length > MAX_LINE ? `${line.slice(0, MAX_LINE - 1)}…` : line
}

function causeOf (value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return undefined
  try {
    const cause = (value as { cause?: unknown }).cause
    return cause === value ? undefined : cause
  } catch {
    return undefined
  }
}

/** One value's own words, without its cause: '' when it has none. */
function describe (value: unknown, nested = false): string {
  if (typeof value === 'string') return firstLine(value)
  if (typeof value !== 'object' || value === null) return ''
  try {
    const { message, code, errno, name, errors } = value as Record<string, unknown>
    const text = typeof message === 'string' ? firstLine(message) : ''
    if (text !== '') return text
    // Node's connect to `localhost` tries ::1 and 127.0.0.1 and reports both in an AggregateError with no message.
    if (Array.isArray(errors) && !nested) {
      const inner = [...new Set(errors.map((e) => describe(e, true)).filter((part) => part !== ''))]
      if (inner.length > 0) return firstLine(inner.join('; '))
    }
    const label = typeof name === 'string' ? firstLine(name) : ''
    if (typeof code === 'string' && code !== '') return label !== '' && label !== 'Error' ? `${label} ${code}` : code
    if (typeof errno === 'number') {
      const known = label === 'ErrnoError' ? WASI_ERRNO[errno] : undefined
      return known !== undefined
        ? `file system error ${known} (PGlite ErrnoError, errno ${errno})`
        : `${label !== '' ? label : 'error'} with errno ${errno}`
    }
    if (label !== '') return `${label} (no message)`
    return firstLine(shape(value))
  } catch {
    return 'an object that could not be read'
  }
}

/** An object with no message: its kind and keys, never its values (one of them could be a secret). */
function shape (value: object): string {
  const keys = Object.keys(value)
  if (keys.length === 0) return ''
  const kind = Array.isArray(value) ? 'array' : (value.constructor as { name?: unknown } | undefined)?.name
  return `${typeof kind === 'string' && kind !== '' ? kind : 'object'} without a message (keys: ${keys.slice(0, 8).join(', ')})`
}

function primitive (value: unknown): string {
  if (typeof value === 'string') return 'an empty string'
  if (typeof value === 'object' && value !== null) return 'an empty object'
  try {
    return String(value)
  } catch {
    return typeof value
  }
}

/** The first non-empty line, trimmed and capped: drizzle's message goes on with the query's parameters. */
function firstLine (text: string): string {
  const line = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '') ?? ''
  return line.length > MAX_PART ? `${line.slice(0, MAX_PART - 1)}…` : line
}
