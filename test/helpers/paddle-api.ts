// A local stand-in of Paddle's API for the reconciler: `GET /events` as Paddle's API reference documents it
// (Bearer auth, `after`, `order_by=id[ASC|DESC]`, `per_page`, and `meta.pagination` with `per_page`, `next`,
// `has_more`, `estimated_total`), its error shape, and the faults a real API has (429 with Retry-After, 5xx,
// dropped connections), served on a free port.
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

interface Teardown { teardown(fn: () => unknown): void }

export type Fault =
  | { status: number, retryAfter?: string, body?: string }
  /** Closes the connection without an answer. */
  | { drop: true }

/** An event of the log: whatever the webhook would carry, with its id. */
export interface LoggedEvent { event_id: string }

export interface SeenRequest {
  at: number
  /** The bearer token presented (tests compare it, never print it). */
  key: string | undefined
  after: string | null
  orderBy: string | null
  perPage: string | null
  status: number | 'dropped'
  /** Ids answered (empty for errors). */
  ids: string[]
}

export interface PaddleApi {
  /** The base URL to give as PADDLE_API_URL. */
  url: string
  /** API keys accepted. */
  keys: Set<string>
  /** Adds events to the log (kept sorted by id, as Paddle pages them). */
  add(...events: LoggedEvent[]): void
  events(): readonly LoggedEvent[]
  /** The next requests are answered with these faults, one each, before the log serves again. */
  fail(...faults: Fault[]): void
  requests: SeenRequest[]
  /** Paddle answers at most this many per page, whatever is asked. Default 200, Paddle's maximum for /events. */
  maxPerPage: number
  /** Milliseconds before each page is answered (a slow API, or a pass that lasts). */
  delayMs: number
  /** The status of an unknown key: Paddle documents 403 `invalid_token`; some gateways answer 401. */
  rejectStatus: 401 | 403
  close(): Promise<void>
}

function paddleError (code: string, detail: string) {
  return { error: { type: 'request_error', code, detail, documentation_url: `https://developer.paddle.com/errors/shared/${code}` }, meta: { request_id: randomUUID() } }
}

export async function startPaddleApi (t: Teardown, options: { keys?: string[] } = {}): Promise<PaddleApi> {
  const log: LoggedEvent[] = []
  const faults: Fault[] = []
  const requests: SeenRequest[] = []
  let base = ''

  const api: PaddleApi = {
    url: '',
    keys: new Set(options.keys ?? []),
    add (...events) {
      log.push(...events)
      log.sort((a, b) => a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0)
    },
    events: () => log,
    fail (...more) { faults.push(...more) },
    requests,
    maxPerPage: 200,
    delayMs: 0,
    rejectStatus: 403,
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(typeof body === 'string' ? body : JSON.stringify(body))
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base)
    const header = req.headers.authorization
    const key = /^Bearer (.+)$/i.exec(header ?? '')?.[1]
    const seen: SeenRequest = {
      at: Date.now(),
      key,
      after: url.searchParams.get('after'),
      orderBy: url.searchParams.get('order_by'),
      perPage: url.searchParams.get('per_page'),
      status: 200,
      ids: []
    }
    requests.push(seen)
    const answer = (status: number, body: unknown, headers?: Record<string, string>) => {
      seen.status = status
      send(res, status, body, headers)
    }

    if (req.method !== 'GET' || url.pathname !== '/events') {
      answer(404, paddleError('not_found', 'Entity not found.'))
      return
    }
    // Authentication comes before everything else, as on the real API.
    if (header === undefined) return answer(403, paddleError('authentication_missing', 'Authentication header missing.'))
    if (key === undefined) return answer(403, paddleError('authentication_malformed', 'Authentication header included, but incorrectly formatted.'))
    if (!api.keys.has(key)) return answer(api.rejectStatus, paddleError('invalid_token', 'Invalid or revoked API key.'))

    const fault = faults.shift()
    if (fault !== undefined) {
      if ('drop' in fault) {
        seen.status = 'dropped'
        req.socket.destroy()
        return
      }
      const headers: Record<string, string> = fault.retryAfter !== undefined ? { 'retry-after': fault.retryAfter } : {}
      if (fault.body !== undefined) {
        seen.status = fault.status
        res.writeHead(fault.status, { 'content-type': 'text/html', ...headers })
        res.end(fault.body)
        return
      }
      const body = fault.status === 429
        ? { error: { type: 'api_error', code: 'too_many_requests', detail: 'IP address exceeded the allowed rate limit. Retry after the number of seconds in the Retry-After header.', documentation_url: 'https://developer.paddle.com/errors/shared/too_many_requests' }, meta: { request_id: randomUUID() } }
        : { error: { type: 'api_error', code: 'internal_error', detail: 'An internal error occurred.', documentation_url: 'https://developer.paddle.com/errors/shared/internal_error' }, meta: { request_id: randomUUID() } }
      return answer(fault.status, body, headers)
    }

    const orderBy = url.searchParams.get('order_by') ?? 'id[ASC]'
    if (orderBy !== 'id[ASC]' && orderBy !== 'id[DESC]') {
      return answer(400, paddleError('invalid_field', 'order_by: must be one of id[ASC], id[DESC]'))
    }
    const perPageParam = url.searchParams.get('per_page')
    if (perPageParam !== null && !/^[1-9]\d*$/.test(perPageParam)) {
      return answer(400, paddleError('invalid_field', 'per_page: must be a positive integer'))
    }
    const perPage = Math.min(Number(perPageParam ?? 50), api.maxPerPage)
    const after = url.searchParams.get('after')
    const ascending = orderBy === 'id[ASC]'
    const ordered = ascending ? [...log] : [...log].reverse()
    const matching = after === null
      ? ordered
      : ordered.filter((event) => ascending ? event.event_id > after : event.event_id < after)
    const data = matching.slice(0, perPage)
    if (api.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, api.delayMs))
    if (res.destroyed) return
    const next = new URL('/events', base)
    const last = data.at(-1)?.event_id
    next.searchParams.set('after', String(last ?? after ?? ''))
    next.searchParams.set('order_by', orderBy)
    next.searchParams.set('per_page', String(perPage))
    seen.ids = data.map((event) => event.event_id)
    answer(200, {
      data,
      meta: {
        request_id: randomUUID(),
        pagination: { per_page: perPage, next: next.toString(), has_more: matching.length > data.length, estimated_total: matching.length }
      }
    })
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => { if (!res.headersSent) send(res, 500, paddleError('internal_error', 'stand-in failed')) })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  api.url = base
  t.teardown(() => api.close())
  return api
}
