// A thin client for Paddle's event log, `GET /events`, over fetch. Not @paddle/paddle-node-sdk: its
// events.list() turns every event into camel-cased entity classes that drop the fields they do not model,
// and the inbox needs each event exactly as the webhook carries it (snake_case, every field). It also
// parses every answer as JSON without looking at the status, and has no timeout.
import type { Clock, ReconcileLogger } from './types.js'

/** One event of the log, as Paddle sent it; only `event_id` is checked here (the cursor needs it). */
export type LogEvent = Record<string, unknown> & { event_id: string }

export interface EventsPage {
  events: LogEvent[]
  hasMore: boolean
}

export interface PaddleEventsClientOptions {
  apiKey: string
  /** `https://api.paddle.com`, `https://sandbox-api.paddle.com`, or a stand-in. */
  baseUrl: string
  clock: Clock
  log: Pick<ReconcileLogger, 'warn'>
  /** Events per page; Paddle's maximum for /events is 200. */
  perPage?: number
  /** Paddle allows 240 requests a minute per IP address. */
  requestsPerMinute?: number
  timeoutMs?: number
  /** Attempts per page before the pass gives up (429s, 5xx, dropped connections, unreadable answers). */
  maxAttempts?: number
  backoffBaseMs?: number
  backoffMaxMs?: number
  /** A Retry-After longer than this is cut to it; Paddle's is 60 s. */
  maxRetryAfterMs?: number
  random?: () => number
  fetch?: typeof fetch
}

/** Paddle refused the API key (401, or 403 `invalid_token` / `forbidden` ...): retrying will not help. */
export class PaddleKeyRejectedError extends Error {
  override name = 'PaddleKeyRejectedError'
  constructor (readonly status: number, readonly code: string | undefined) {
    super(`Paddle rejected PADDLE_API_KEY (${status}${code !== undefined ? ` ${code}` : ''})`)
  }
}

/** A request Paddle will not serve as sent (another 4xx), or an answer that breaks the log's contract. */
export class PaddleRequestError extends Error {
  override name = 'PaddleRequestError'
  constructor (message: string, readonly status?: number, readonly code?: string) { super(message) }
}

/** Every attempt failed: 5xx, 429, timeouts or dropped connections. The next pass tries again. */
export class PaddleUnavailableError extends Error {
  override name = 'PaddleUnavailableError'
  constructor (readonly reason: string, readonly attempts: number) {
    super(`Paddle API unavailable after ${attempts} attempts: ${reason}`)
  }
}

const RETRYABLE_STATUS = (status: number) => status === 408 || status === 429 || status >= 500
// Paddle: "that IP address can't make another request for 60 seconds".
const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000

interface Failure { reason: string, status?: number, code?: string, requestId?: string, waitMs?: number }

export class PaddleEventsClient {
  private readonly url: URL
  private readonly perPage: number
  private readonly spacingMs: number
  private readonly timeoutMs: number
  private readonly maxAttempts: number
  private readonly backoffBaseMs: number
  private readonly backoffMaxMs: number
  private readonly maxRetryAfterMs: number
  private readonly random: () => number
  private readonly fetch: typeof fetch
  private readonly headers: Record<string, string>
  private nextRequestAt = 0

  constructor (private readonly options: PaddleEventsClientOptions) {
    this.url = new URL(`${options.baseUrl.replace(/\/+$/, '')}/events`)
    this.perPage = options.perPage ?? 200
    this.spacingMs = 60_000 / (options.requestsPerMinute ?? 240)
    this.timeoutMs = options.timeoutMs ?? 30_000
    this.maxAttempts = options.maxAttempts ?? 6
    this.backoffBaseMs = options.backoffBaseMs ?? 1000
    this.backoffMaxMs = options.backoffMaxMs ?? 30_000
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 5 * 60_000
    this.random = options.random ?? Math.random
    this.fetch = options.fetch ?? globalThis.fetch
    this.headers = {
      authorization: `Bearer ${options.apiKey}`,
      accept: 'application/json',
      'paddle-version': '1',
      'user-agent': 'billing-webhooks-reconciler'
    }
  }

  /**
   * The page of events after `after` (an event id; from the start of the log without it), oldest first.
   * The next page is always asked for with the last id of this one, never by following `meta.pagination.next`:
   * a URL from a response must not receive the API key.
   */
  async page (after: string | undefined, signal: AbortSignal): Promise<EventsPage> {
    const url = new URL(this.url)
    url.searchParams.set('order_by', 'id[ASC]')
    url.searchParams.set('per_page', String(this.perPage))
    if (after !== undefined) url.searchParams.set('after', after)

    for (let attempt = 1; ; attempt++) {
      await this.pace(signal)
      const failure = await this.attempt(url, after, signal)
      if (!('reason' in failure)) return failure
      if (attempt >= this.maxAttempts) throw new PaddleUnavailableError(failure.reason, attempt)
      const waitMs = failure.waitMs ?? this.backoff(attempt)
      // A rate limit holds every request, not just this one.
      this.nextRequestAt = Math.max(this.nextRequestAt, this.options.clock.now() + waitMs)
      this.options.log.warn({
        attempt, status: failure.status, code: failure.code, requestId: failure.requestId, reason: failure.reason, waitMs
      }, 'Paddle API request failed; retrying')
    }
  }

  private async attempt (url: URL, after: string | undefined, signal: AbortSignal): Promise<EventsPage | Failure> {
    let response: Response
    try {
      response = await this.fetch(url, {
        headers: this.headers,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
        redirect: 'error'
      })
    } catch (err) {
      if (signal.aborted) throw signal.reason
      return { reason: describeNetworkError(err) }
    }
    let body: unknown
    try {
      body = await response.json()
    } catch (err) {
      if (signal.aborted) throw signal.reason
      body = undefined
    }
    if (response.ok) {
      const page = readPage(body, after)
      return page ?? { reason: `a ${response.status} answer that is not a page of events`, status: response.status }
    }
    const { code, requestId } = readError(body)
    if (response.status === 401 || response.status === 403) throw new PaddleKeyRejectedError(response.status, code)
    if (!RETRYABLE_STATUS(response.status)) {
      throw new PaddleRequestError(`Paddle refused GET /events (${response.status}${code !== undefined ? ` ${code}` : ''})`, response.status, code)
    }
    const retryAfter = retryAfterMs(response.headers.get('retry-after'), this.options.clock.now())
    const waitMs = retryAfter !== undefined
      ? Math.min(retryAfter, this.maxRetryAfterMs)
      : response.status === 429 ? DEFAULT_RATE_LIMIT_WAIT_MS : undefined
    return {
      reason: `HTTP ${response.status}`,
      status: response.status,
      ...(code !== undefined ? { code } : {}),
      ...(requestId !== undefined ? { requestId } : {}),
      ...(waitMs !== undefined ? { waitMs } : {})
    }
  }

  /** Keeps requests at least 60 s / requestsPerMinute apart, and after any Retry-After. */
  private async pace (signal: AbortSignal): Promise<void> {
    const now = this.options.clock.now()
    const waitMs = this.nextRequestAt - now
    if (waitMs > 0) await this.options.clock.sleep(waitMs, signal)
    this.nextRequestAt = Math.max(now, this.nextRequestAt) + this.spacingMs
  }

  /** Exponential, with half of each step random, so replicas and restarts do not retry in step. */
  private backoff (attempt: number): number {
    const step = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (attempt - 1))
    return Math.round(step / 2 + this.random() * step / 2)
  }
}

/** `Retry-After` as seconds or an HTTP date, in ms from `now`; undefined when absent or unreadable. */
export function retryAfterMs (header: string | null, now: number): number | undefined {
  if (header === null) return undefined
  const value = header.trim()
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/**
 * A page as Paddle's reference documents it: `data` (events) and `meta.pagination.has_more`. The cursor
 * relies on ascending ids after `after`, so a page that breaks that order is refused, not guessed at.
 */
export function readPage (body: unknown, after: string | undefined): EventsPage | undefined {
  if (!isObject(body) || !Array.isArray(body.data)) return undefined
  const pagination = isObject(body.meta) && isObject(body.meta.pagination) ? body.meta.pagination : undefined
  if (pagination === undefined || typeof pagination.has_more !== 'boolean') return undefined
  let previous = after
  const events: LogEvent[] = []
  for (const item of body.data) {
    if (!isObject(item) || typeof item.event_id !== 'string' || item.event_id === '') return undefined
    if (previous !== undefined && !(item.event_id > previous)) {
      throw new PaddleRequestError(`Paddle's event log answered ${item.event_id} after ${previous}: not in ascending order`)
    }
    previous = item.event_id
    events.push(item as LogEvent)
  }
  return { events, hasMore: pagination.has_more }
}

function readError (body: unknown): { code?: string, requestId?: string } {
  const error = isObject(body) && isObject(body.error) ? body.error : undefined
  const meta = isObject(body) && isObject(body.meta) ? body.meta : undefined
  return {
    ...(typeof error?.code === 'string' ? { code: error.code.slice(0, 64) } : {}),
    ...(typeof meta?.request_id === 'string' ? { requestId: meta.request_id.slice(0, 64) } : {})
  }
}

function describeNetworkError (err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timed out'
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined
  return typeof cause?.code === 'string' ? `connection failed (${cause.code})` : 'connection failed'
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
