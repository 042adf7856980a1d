// What the LVVER tests look at from outside the app: its real Redis keys, its Postgres traffic, and
// handlers slowed or broken from the database side (no switch in production code).
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import type { Config } from '../../config.js'
import { lockKey, markerKey } from '../../services/lvver.js'
import { EVENT_SCOPE as WEBHOOK_SCOPE } from '../../services/inbox.js'
import type { TestDatabase } from './database.js'

/** The real Redis key of a webhook event's lease, with the app's key prefix. */
export const lockKeyOf = (config: Pick<Config, 'redisKeyPrefix'>, eventId: unknown): string =>
  `${config.redisKeyPrefix}${lockKey(WEBHOOK_SCOPE, String(eventId))}`

/** The real Redis key of a webhook event's processed marker, with the app's key prefix. */
export const markerKeyOf = (config: Pick<Config, 'redisKeyPrefix'>, eventId: unknown): string =>
  `${config.redisKeyPrefix}${markerKey(WEBHOOK_SCOPE, String(eventId))}`

/** The app's keys in Redis (under its prefix) that requests wrote: all but the health check's heartbeat. */
export async function requestKeys (redis: Redis, config: Pick<Config, 'redisKeyPrefix'>): Promise<string[]> {
  const heartbeat = `${config.redisKeyPrefix}heartbeat:`
  return (await redis.keys(`${config.redisKeyPrefix}*`)).filter((key) => !key.startsWith(heartbeat))
}

/** Polls `probe` until it returns a value other than undefined (a condition, not a duration). */
export async function until<T> (what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${ms} ms`)
    await sleep(10)
  }
}

/**
 * The first insert into `table` (and only the first: a sequence is not rolled back, so a concurrent
 * transaction sees the count move) sleeps `seconds` before writing anything.
 */
export async function slowFirstInsert (database: TestDatabase, table: string, seconds: number): Promise<void> {
  await database.query(`
    create sequence bw_test_first_${table};
    create function bw_test_slow_first_${table}() returns trigger language plpgsql as $$
    begin
      if nextval('bw_test_first_${table}') = 1 then perform pg_sleep(${seconds}); end if;
      return new;
    end $$;
    create trigger bw_test_slow_first before insert on ${table} for each row execute function bw_test_slow_first_${table}();`)
}

/** Every insert into `table` sleeps `seconds`: keeps a request in flight long enough to look at its lease. */
export async function slowEveryInsert (database: TestDatabase, table: string, seconds: number): Promise<void> {
  await database.query(`
    create function bw_test_slow_all_${table}() returns trigger language plpgsql as $$
    begin perform pg_sleep(${seconds}); return new; end $$;
    create trigger bw_test_slow_all before insert on ${table} for each row execute function bw_test_slow_all_${table}();`)
}

export interface PgQuery { text: string, values: unknown[] }

interface WatchedPool { query: (...args: unknown[]) => Promise<unknown> }

/**
 * Calls `observe` before every query the app sends through its pg pool's `query` (every statement of
 * the webhook path; not the clients a transaction checks out), and lets it go on only once `observe`
 * resolves. Returns the list of queries seen.
 */
export function watchPostgres (app: FastifyInstance, observe: (query: PgQuery) => Promise<void> | void = () => {}): PgQuery[] {
  const pool = (app.database.db as unknown as { $client: WatchedPool }).$client
  const originalQuery = pool.query.bind(pool)
  const seen: PgQuery[] = []
  pool.query = async (...args: unknown[]) => {
    const [first, second] = args
    const config = typeof first === 'object' && first !== null ? first as { text?: string, values?: unknown[] } : { text: String(first) }
    const query = { text: config.text ?? '', values: config.values ?? (Array.isArray(second) ? second : []) }
    seen.push(query)
    await observe(query)
    return originalQuery(...args)
  }
  return seen
}

/** Rows of a count query as a number. */
export async function count (database: TestDatabase, sql: string, values: unknown[] = []): Promise<number> {
  const [row] = await database.query<{ n: number }>(`select count(*)::int as n from ${sql}`, values)
  return row?.n ?? 0
}
