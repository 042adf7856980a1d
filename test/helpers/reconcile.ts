// The reconciler's test rig: replicas wired to the Paddle stand-in, events as Paddle's log holds them, and
// what the tests read back (the inbox, the cursor, the log lines).
import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.js'
import { buildTestApp, type TestApp } from './app.js'
import type { TestDatabase } from './database.js'
import { TEST_ADMIN_TOKEN } from './env.js'
import type { PaddleApi } from './paddle-api.js'
import { newPaddleId, paddleTime, samplePaddleEvent, type PaddleEventType, type PaddleNotification, type SampleOverrides } from './paddle-payloads.js'

interface Teardown { teardown(fn: () => unknown): void }

export const TEST_PADDLE_KEY = 'pdl_sdbx_apikey_01reconciletestkey0123456789abcdef'

export interface ReplicaOptions {
  api: PaddleApi
  database?: TestDatabase
  config?: Partial<Config>
}

/** One replica with reconciliation on (scheduled passes off unless the config says otherwise). */
export async function buildReplica (t: Teardown, options: ReplicaOptions): Promise<TestApp> {
  options.api.keys.add(TEST_PADDLE_KEY)
  return buildTestApp(t, {
    ...(options.database !== undefined ? { database: options.database } : {}),
    config: { paddleApiKey: TEST_PADDLE_KEY, paddleApiUrl: options.api.url, reconcileIntervalSeconds: 0, ...options.config }
  })
}

/**
 * An event of `type` in the full shape a webhook carries, as Paddle's log holds it: its id minted at the
 * time it occurred, so ids sort in the order events happened.
 */
export function logEvent (type: PaddleEventType, occurredAtMs: number, overrides: SampleOverrides = {}): PaddleNotification {
  return samplePaddleEvent(type, { eventId: newPaddleId('evt', occurredAtMs), occurredAt: paddleTime(occurredAtMs), ...overrides })
}

export function reconcileNow (app: FastifyInstance) {
  return app.inject({ method: 'POST', url: '/admin/reconcile', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })
}

export interface InboxRow { event_id: string, status: string, source: string, attempts: number }

export async function inboxRows (database: TestDatabase): Promise<Map<string, InboxRow>> {
  const rows = await database.query<InboxRow>('select event_id, status, source, attempts from webhook_events')
  return new Map(rows.map((row) => [row.event_id, row]))
}

export async function storedCursor (database: TestDatabase): Promise<string | null | undefined> {
  const [row] = await database.query<{ cursor: string | null }>("select cursor from reconcile_state where name = 'paddle_events'")
  return row === undefined ? undefined : row.cursor
}

/** Log lines parsed as JSON (pino). */
export function jsonLines (lines: readonly string[]): Array<Record<string, unknown>> {
  return lines.flatMap((line) => {
    try { return [JSON.parse(line) as Record<string, unknown>] } catch { return [] }
  })
}
