// The fault suite's cluster: three real server processes sharing one fresh Postgres database and the
// suite's own redis-server, and a client that delivers like the provider (re-signed, retried with
// back-off, Retry-After honoured up to a cap, spread over replicas, moving on from a dead one).
import { setTimeout as sleep } from 'node:timers/promises'
import { freshDatabase, type TestDatabase } from '../helpers/database.js'
import { TEST_SECRET } from '../helpers/env.js'
import { startOwnRedis, type OwnRedis } from '../helpers/redis-server.js'
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js'
import { signPaddleBody } from '../../services/paddle/signature.js'

interface Teardown { teardown(fn: () => unknown): void }

export interface Cluster {
  database: TestDatabase
  redis: OwnRedis
  replicas: ServerProcess[]
  /** Every log line of every replica. */
  lines(): string[]
}

export async function startCluster (t: Teardown, env: Record<string, string> = {}, count = 3): Promise<Cluster> {
  const database = await freshDatabase(t)
  const redis = await startOwnRedis(t)
  const base = { DATABASE_URL: database.url, REDIS_URL: redis.url, DATABASE_POOL_SIZE: '8', ...env }
  // The first replica migrates alone; the others then start together.
  const first = await startServerProcess(t, base)
  const rest = await Promise.all(Array.from({ length: count - 1 }, () => startServerProcess(t, base)))
  const replicas = [first, ...rest]
  return { database, redis, replicas, lines: () => replicas.flatMap((r) => r.lines) }
}

export interface Attempt { replica: number, status: number | 'network', ms: number, at: number }
export interface Delivery { body: string, attempts: Attempt[], final?: { status: number, json: Record<string, unknown> } }

export interface ProviderOptions {
  /** Cap on any wait between attempts, so a Retry-After of 30 s does not stall the suite. */
  maxWaitMs?: number
  maxAttempts?: number
  /** Per-request timeout: a request slower than this counts as a hang. */
  timeoutMs?: number
}

/** Signatures sent, so the suite can look for them in the logs. */
export const sentSignatures = new Set<string>()

/** Sends one event until it is answered 2xx, as Paddle would. */
export class Provider {
  private next = 0
  readonly deliveries: Delivery[] = []

  constructor (private readonly cluster: Cluster, private readonly options: ProviderOptions = {}) {}

  async deliver (event: unknown, replica?: number): Promise<Delivery> {
    const body = typeof event === 'string' ? event : JSON.stringify(event)
    const delivery: Delivery = { body, attempts: [] }
    this.deliveries.push(delivery)
    const { maxWaitMs = 500, maxAttempts = 200, timeoutMs = 10_000 } = this.options
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const index = replica !== undefined && attempt === 0 ? replica : this.next++ % this.cluster.replicas.length
      const target = this.cluster.replicas[index]!
      const signature = signPaddleBody(body, TEST_SECRET)
      sentSignatures.add(signature.split('h1=')[1] ?? '')
      const started = performance.now()
      let wait = Math.min(maxWaitMs, 50 * 2 ** Math.min(attempt, 5))
      try {
        const response = await fetch(`${target.url}/billing/webhook`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'paddle-signature': signature },
          body,
          signal: AbortSignal.timeout(timeoutMs)
        })
        const json = await response.json() as Record<string, unknown>
        delivery.attempts.push({ replica: index, status: response.status, ms: performance.now() - started, at: Date.now() })
        if (response.ok) {
          delivery.final = { status: response.status, json }
          return delivery
        }
        const retryAfter = Number(response.headers.get('retry-after'))
        if (Number.isFinite(retryAfter) && retryAfter > 0) wait = Math.min(maxWaitMs, retryAfter * 1000)
      } catch {
        // Refused (a stopped replica) or timed out: straight on to the next replica.
        delivery.attempts.push({ replica: index, status: 'network', ms: performance.now() - started, at: Date.now() })
        wait = 20
      }
      await sleep(wait)
    }
    return delivery
  }

  /** Delivers every event, `concurrency` at a time. */
  async deliverAll (events: unknown[], concurrency: number): Promise<Delivery[]> {
    const results: Delivery[] = new Array(events.length)
    let cursor = 0
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (cursor < events.length) {
        const index = cursor++
        results[index] = await this.deliver(events[index])
      }
    }))
    return results
  }
}

export interface Summary { scenario: string, requests: number, statuses: Record<string, number>, worstMs: number }

export function summarise (scenario: string, deliveries: Delivery[]): Summary {
  const statuses: Record<string, number> = {}
  let worstMs = 0
  let requests = 0
  for (const delivery of deliveries) {
    for (const attempt of delivery.attempts) {
      requests++
      statuses[attempt.status] = (statuses[attempt.status] ?? 0) + 1
      worstMs = Math.max(worstMs, attempt.ms)
    }
  }
  return { scenario, requests, statuses, worstMs: Math.round(worstMs) }
}

export function table (rows: Summary[]): string {
  return [
    '| scenario | requests | outcomes | worst latency |',
    '|---|---:|---|---:|',
    ...rows.map((r) => `| ${r.scenario} | ${r.requests} | ${Object.entries(r.statuses).sort().map(([k, v]) => `${k}: ${v}`).join(', ')} | ${r.worstMs} ms |`)
  ].join('\n')
}

/** A Prometheus counter's value (summed over its series) from one replica's /metrics. */
export async function scrape (replica: ServerProcess, name: string): Promise<number> {
  const text = await (await fetch(`${replica.url}/metrics`)).text()
  return text.split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0)
}

/** No secret, token or signature sent by the suite appears in any log line. */
export function leakedSecrets (lines: string[], secrets: string[]): string[] {
  const leaks: string[] = []
  for (const line of lines) {
    for (const secret of secrets) if (line.includes(secret)) leaks.push(secret.slice(0, 8))
    for (const hex of line.match(/[0-9a-f]{64}/g) ?? []) if (sentSignatures.has(hex)) leaks.push(`h1 ${hex.slice(0, 8)}`)
  }
  return leaks
}
