// Watches what an app sends to Redis and Postgres, on one timeline. Wrappers go on this test's own app
// instance (its ioredis client and its pg pool), never on production code; MONITOR on a private
// redis-server shows what Redis itself ran, including the commands inside Lua scripts.
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import type pg from 'pg'

interface Teardown { teardown(fn: () => unknown): void }

const HEARTBEAT = /(^|:)heartbeat:\{\d+\}$/

export interface Sent {
  system: 'redis' | 'pg'
  /** `send` when the command left the process, `reply` when its answer came back. */
  phase: 'send' | 'reply'
  /** Redis: the command, or `script:<name>` for the lock store's Lua scripts. Postgres: the SQL text. */
  command: string
  args: string[]
}

export interface Traffic {
  sent: Sent[]
  clear(): void
}

/** Records every command the app's Redis client and Postgres pool send, in the order they are sent. */
export function recordTraffic (app: FastifyInstance): Traffic {
  const sent: Sent[] = []
  const redis = app.redis
  if (redis === null) throw new Error('recordTraffic needs an app with Redis')
  const scripts = new Map<string, string>()
  const scriptName = (sha: string): string | undefined => {
    if (scripts.size === 0) {
      // ioredis keeps the scripts registered with defineCommand, each with its SHA1.
      for (const [name, script] of Object.entries(redis.scriptsSet as Record<string, { sha?: string }>)) {
        if (typeof script.sha === 'string') scripts.set(script.sha, name)
      }
    }
    return scripts.get(sha)
  }

  const sendCommand = redis.sendCommand.bind(redis)
  redis.sendCommand = ((command, ...rest) => {
    const args = command.args.map((arg) => String(arg))
    // The health check's heartbeat runs on its own timer; it is not part of any request's traffic.
    if (command.name === 'set' && HEARTBEAT.test(args[0] ?? '')) return sendCommand(command, ...rest)
    let name = command.name.toLowerCase()
    if (name === 'evalsha') name = `script:${scriptName(args[0] ?? '') ?? 'unknown'}`
    if (name === 'eval') name = 'script:eval'
    sent.push({ system: 'redis', phase: 'send', command: name, args })
    command.promise.then(
      () => { sent.push({ system: 'redis', phase: 'reply', command: name, args }) },
      () => { sent.push({ system: 'redis', phase: 'reply', command: `${name}:error`, args }) }
    )
    return sendCommand(command, ...rest)
  }) as Redis['sendCommand']

  const pool = (app.database.db as unknown as { $client: pg.Pool }).$client
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown
  ;(pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const first = args[0] as string | { text: string, values?: unknown[] }
    const text = typeof first === 'string' ? first : first.text
    const values = (typeof first === 'string' ? args[1] : first.values) as unknown[] | undefined
    sent.push({ system: 'pg', phase: 'send', command: text, args: (values ?? []).map((v) => String(v)) })
    return query(...args)
  }
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown
  ;(pool as unknown as { connect: (...args: unknown[]) => unknown }).connect = (...args: unknown[]) => {
    // pool.query checks a client out with a callback; a caller checking one out itself (a transaction,
    // whose statements then bypass pool.query) uses the promise form: record that it happened.
    if (args.length === 0) sent.push({ system: 'pg', phase: 'send', command: 'connect', args: [] })
    return connect(...args)
  }

  return { sent, clear: () => { sent.length = 0 } }
}

export interface Monitored {
  time: number
  args: string[]
  /** `lua` for a command run by a script, else the client's address. */
  source: string
}

/** Starts MONITOR on a Redis (a private redis-server: MONITOR slows a server down) and collects every command. */
export async function monitorRedis (t: Teardown, url: string): Promise<{ commands: Monitored[], stop(): void }> {
  const client = new Redis(url, { lazyConnect: true })
  client.on('error', () => {})
  const commands: Monitored[] = []
  const feed = await client.monitor()
  feed.on('monitor', (time: string, args: string[], source: string) => {
    commands.push({ time: Number(time), args, source })
  })
  const stop = () => { feed.disconnect(); client.disconnect() }
  t.teardown(stop)
  // monitor() resolves on the server's OK: from here on, every command is seen.
  return { commands, stop }
}
