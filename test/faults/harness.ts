// The fault suite's cluster: three real server processes (the service compiled once per test file into a
// directory of its own) sharing one fresh Postgres database and the suite's own redis-server, every log
// line of each kept; and a client that delivers the way the provider does: each attempt signed afresh,
// every non-2xx and network error retried with back-off, Retry-After honoured up to a cap, deliveries
// spread round robin over the replicas, a refused connection sent straight on to the next replica.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { freshDatabase, type TestDatabase } from '../helpers/database.js'
import { TEST_ADMIN_TOKEN, TEST_SECRET, viaPgBouncer } from '../helpers/env.js'
import { pgBouncer } from '../helpers/pgbouncer.js'
import { startOwnRedis, type OwnRedis } from '../helpers/redis-server.js'
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js'
import { markerKey } from '../../services/lvver.js'
import { signPaddleBody } from '../../services/paddle/signature.js'
import { EVENT_SCOPE as WEBHOOK_SCOPE } from '../../services/inbox.js'

interface Teardown { teardown(fn: () => unknown): void }

export interface Cluster {
  database: TestDatabase
  redis: OwnRedis
  replicas: ServerProcess[]
  /** Values no log line may contain: the webhook secret, the admin token, the database password. */
  secrets: string[]
  /** Every log line of every replica, stdout and stderr. */
  lines(): string[]
}

export async function startCluster (t: Teardown, env: Record<string, string> = {}, count = 3): Promise<Cluster> {
  const database = await freshDatabase(t)
  const redis = await startOwnRedis(t)
  // Trust authentication ignores the password; it is there so that the logs can be searched for it.
  const password = `pw${randomBytes(12).toString('hex')}`
  const url = new URL(database.url)
  url.password = password
  // One PgBouncer for the three replicas, as a deployment has one in front of its Postgres.
  const pooled: Record<string, string> = viaPgBouncer()
    ? { DATABASE_URL: (await pgBouncer(t)).url(url.toString()), DATABASE_POOL_MODE: 'transaction' }
    : { DATABASE_URL: url.toString() }
  const base = {
    ...pooled,
    REDIS_URL: redis.url,
    ADMIN_API_TOKEN: TEST_ADMIN_TOKEN,
    DATABASE_POOL_SIZE: '8',
    ...env
  }
  // The first replica migrates alone; the others then start together.
  const first = await startServerProcess(t, base)
  const rest = await Promise.all(Array.from({ length: count - 1 }, () => startServerProcess(t, base)))
  const replicas = [first, ...rest]
  await Promise.all(replicas.map((replica) => replica.lockRoutesOpen()))
  return {
    database,
    redis,
    replicas,
    secrets: [TEST_SECRET, TEST_ADMIN_TOKEN, password],
    lines: () => replicas.flatMap((r) => r.lines)
  }
}

export interface Attempt {
  replica: number
  /** The HTTP status, or the network error's code (ECONNREFUSED, ECONNRESET, TIMEOUT...). */
  status: number | string
  /** Epoch ms when the request was sent, and how long until its whole answer was read. */
  start: number
  ms: number
  retryAfter: string | null
  body: unknown
}

export interface Delivery {
  eventId: string
  body: string
  attempts: Attempt[]
  /** The 2xx that ended the delivery; undefined if it never came. */
  final?: { status: number, json: Record<string, unknown> }
}

export interface ProviderOptions {
  /** Cap on a Retry-After wait, so that a 30 s Retry-After does not stall the suite. */
  maxRetryAfterMs?: number
  /** Cap on the exponential back-off used when an answer gives no Retry-After. */
  maxBackoffMs?: number
  /** A request not answered within this counts as a hang (status TIMEOUT) and is retried. */
  timeoutMs?: number
  /** A delivery gives up after this long (the test then fails on its missing final answer). */
  deadlineMs?: number
}

/** Every h1 signature the suite sent, so that the logs can be searched for them. */
export const sentSignatures = new Set<string>()

export const isHttp = (status: number | string): status is number => typeof status === 'number'
export const endOf = (attempt: Attempt): number => attempt.start + attempt.ms

function networkCode (err: unknown): string {
  const error = err as { name?: string, code?: string, cause?: { code?: string, name?: string } }
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'TIMEOUT'
  return error.cause?.code ?? error.code ?? error.cause?.name ?? error.name ?? 'NETWORK'
}

/** Sends events until each is answered 2xx, as Paddle would. */
export class Provider {
  private cursor = 0
  readonly deliveries: Delivery[] = []
  /** Requests under way, per replica. */
  readonly inFlight: number[]

  constructor (private readonly cluster: Cluster, private readonly options: ProviderOptions = {}) {
    this.inFlight = cluster.replicas.map(() => 0)
  }

  /** Delivers one event (an object, or a raw JSON string); `replica` picks the first attempt's target. */
  async deliver (event: unknown, replica?: number): Promise<Delivery> {
    const body = typeof event === 'string' ? event : JSON.stringify(event)
    const eventId = String((JSON.parse(body) as { event_id?: unknown }).event_id)
    const delivery: Delivery = { eventId, body, attempts: [] }
    this.deliveries.push(delivery)
    const { maxRetryAfterMs = 2000, maxBackoffMs = 1000, timeoutMs = 10_000, deadlineMs = 90_000 } = this.options
    const count = this.cluster.replicas.length
    const deadline = Date.now() + deadlineMs
    let target = replica ?? this.cursor++ % count
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const result = await this.send(target, body, timeoutMs)
      delivery.attempts.push(result.attempt)
      if (result.json !== undefined) {
        delivery.final = { status: result.attempt.status as number, json: result.json }
        return delivery
      }
      if (!isHttp(result.attempt.status)) {
        // A dead or closing replica: the load balancer sends the retry to the next one at once.
        target = (target + 1) % count
        await sleep(attempt < count ? 5 : Math.min(maxBackoffMs, 50 * 2 ** Math.min(attempt - count, 5)))
        continue
      }
      const retryAfter = Number(result.attempt.retryAfter)
      const wait = Number.isFinite(retryAfter) && retryAfter > 0
        ? Math.min(maxRetryAfterMs, retryAfter * 1000)
        : Math.min(maxBackoffMs, 50 * 2 ** Math.min(attempt, 5))
      target = this.cursor++ % count
      await sleep(wait * (0.75 + Math.random() / 2))
    }
    return delivery
  }

  /** Delivers every event, `concurrency` at a time. */
  async deliverAll (events: unknown[], concurrency: number): Promise<Delivery[]> {
    const results: Delivery[] = new Array(events.length)
    let next = 0
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < events.length) {
        const index = next++
        results[index] = await this.deliver(events[index])
      }
    }))
    return results
  }

  /** Resolves once `n` deliveries have been answered 2xx. */
  async answered (n: number, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms
    while (this.deliveries.filter((d) => d.final !== undefined).length < n) {
      if (Date.now() > deadline) throw new Error(`fewer than ${n} deliveries answered within ${ms} ms`)
      await sleep(10)
    }
  }

  private async send (replica: number, body: string, timeoutMs: number): Promise<{ attempt: Attempt, json?: Record<string, unknown> }> {
    const signature = signPaddleBody(body, TEST_SECRET)
    sentSignatures.add(signature.slice(signature.indexOf('h1=') + 3))
    const start = Date.now()
    const started = performance.now()
    this.inFlight[replica]!++
    try {
      const response = await fetch(`${this.cluster.replicas[replica]!.url}/billing/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'paddle-signature': signature },
        body,
        signal: AbortSignal.timeout(timeoutMs)
      })
      const text = await response.text()
      let parsed: unknown = text
      try { parsed = JSON.parse(text) } catch {}
      const attempt: Attempt = {
        replica, status: response.status, start, ms: performance.now() - started, retryAfter: response.headers.get('retry-after'), body: parsed
      }
      return response.ok ? { attempt, json: parsed as Record<string, unknown> } : { attempt }
    } catch (err) {
      return { attempt: { replica, status: networkCode(err), start, ms: performance.now() - started, retryAfter: null, body: undefined } }
    } finally {
      this.inFlight[replica]!--
    }
  }
}

export const attemptsOf = (deliveries: Delivery[]): Attempt[] => deliveries.flatMap((d) => d.attempts)

/** Every non-2xx answer whose body is not the shared `{ error, message }` JSON, or that shows a stack. */
export function badErrorBodies (deliveries: Delivery[]): string[] {
  const bad: string[] = []
  for (const attempt of attemptsOf(deliveries)) {
    if (!isHttp(attempt.status) || attempt.status < 300) continue
    const body = attempt.body as { error?: unknown, message?: unknown } | undefined
    const shaped = typeof body === 'object' && body !== null && typeof body.error === 'string' && typeof body.message === 'string'
    if (!shaped || /\bat .+\.(js|ts):\d+/.test(JSON.stringify(body))) bad.push(`${attempt.status} ${JSON.stringify(body).slice(0, 120)}`)
  }
  return bad
}

/** The event ids recorded in `webhook_events`. */
export async function recordedIds (database: TestDatabase): Promise<Set<string>> {
  return new Set((await database.query<{ event_id: string }>('select event_id from webhook_events')).map((r) => r.event_id))
}

/** The event ids that carry a processed marker in the suite's Redis. */
export async function markedIds (redis: OwnRedis): Promise<Set<string>> {
  const prefix = markerKey(WEBHOOK_SCOPE, '')
  const keys = await redis.client.keys(`${prefix.slice(0, -1)}*}`)
  return new Set(keys.map((key) => key.slice(prefix.length - 1, -1)))
}

/** The lock keys (leases) present in the suite's Redis. */
export async function lockKeys (redis: OwnRedis): Promise<string[]> {
  return redis.client.keys('lock:*')
}

/** A Prometheus series' value (summed over its labels) from one replica's /metrics. */
export async function scrape (replica: ServerProcess, name: string): Promise<number> {
  const text = await (await fetch(`${replica.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text()
  return text.split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0)
}

/** One GET: its status (or the error's code) and how long it took. */
export async function probe (url: string, timeoutMs = 2000): Promise<{ status: number | string, ms: number }> {
  const started = performance.now()
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    await response.arrayBuffer()
    return { status: response.status, ms: performance.now() - started }
  } catch (err) {
    return { status: networkCode(err), ms: performance.now() - started }
  }
}

/** Log lines that show a secret, the admin token, the database password or a signature the suite sent. */
export function leaks (cluster: Cluster): string[] {
  const found: string[] = []
  for (const line of cluster.lines()) {
    for (const secret of cluster.secrets) if (line.includes(secret)) found.push(`secret ${secret.slice(0, 4)}...: ${line.slice(0, 160)}`)
    for (const hex of line.match(/[0-9a-f]{64}/gi) ?? []) {
      if (sentSignatures.has(hex.toLowerCase())) found.push(`signature ${hex.slice(0, 8)}...: ${line.slice(0, 160)}`)
    }
  }
  return found
}

export interface Summary { scenario: string, requests: number, outcomes: Record<string, number>, worstMs: number }

export function summarise (scenario: string, deliveries: Delivery[]): Summary {
  const outcomes: Record<string, number> = {}
  let worstMs = 0
  const attempts = attemptsOf(deliveries)
  for (const attempt of attempts) {
    outcomes[attempt.status] = (outcomes[attempt.status] ?? 0) + 1
    worstMs = Math.max(worstMs, attempt.ms)
  }
  return { scenario, requests: attempts.length, outcomes, worstMs: Math.round(worstMs) }
}

/** The suite's figures as a Markdown table, written to stderr so that every tap reporter shows it. */
export function printTable (rows: Summary[]): void {
  const outcome = (o: Record<string, number>) => Object.entries(o)
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([k, v]) => `${k}: ${v}`).join(', ')
  process.stderr.write([
    '',
    '| scenario | requests | outcomes (status: count) | worst latency |',
    '|---|---:|---|---:|',
    ...rows.map((r) => `| ${r.scenario} | ${r.requests} | ${outcome(r.outcomes)} | ${r.worstMs} ms |`),
    ''
  ].join('\n') + '\n')
}
