// Our own ioredis client (not @fastify/redis, which holds start-up until Redis answers): the service
// starts and serves while Redis is down, notices by itself when it returns, and never waits on it.
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { MemoryLockStore, RedisLockStore, type LockStore } from '../services/lock-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The ioredis client, or null when REDIS_URL is unset (in-process lock store). */
    redis: Redis | null
    lockStore: LockStore
  }
}

/** Back-off between reconnection attempts: quick at first, then every 2 s, forever. */
export function reconnectDelayMs (attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), 2000)
}

export default fp(async function redisPlugin (app) {
  const { config } = app
  if (config.redisUrl === undefined) {
    app.log.warn('REDIS_URL is unset: using the in-process lock store, which is correct for ONE replica only')
    app.decorate('redis', null)
    app.decorate('lockStore', new MemoryLockStore())
    return
  }

  const redis = new Redis(config.redisUrl, {
    lazyConnect: true,
    // Fail fast: no queue while offline, no retries of a command, a short timeout on each.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: config.redisCommandTimeoutMs,
    connectTimeout: 2000,
    keyPrefix: config.redisKeyPrefix,
    retryStrategy: reconnectDelayMs,
    connectionName: 'billing-webhooks',
    // Commands issued in the same tick share one write: fewer syscalls under load, same semantics.
    enableAutoPipelining: true
  })

  let lastErrorLog = 0
  redis.on('error', (err: Error) => {
    // Every failed reconnect emits an error; one line every 10 s is enough to tell the story.
    const now = Date.now()
    if (now - lastErrorLog > 10_000) {
      lastErrorLog = now
      app.log.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'redis error')
    }
  })
  // 'close' fires after every failed reconnect too; only the loss of a ready connection is news.
  let wasReady = false
  let closing = false
  redis.on('ready', () => {
    wasReady = true
    app.log.info('redis ready: lock routes open')
  })
  redis.on('close', () => {
    if (wasReady && !closing) app.log.warn('redis connection lost: lock routes fail closed until it is back')
    wasReady = false
  })

  app.decorate('redis', redis)
  app.decorate('lockStore', new RedisLockStore(redis))
  // Not awaited: start-up never waits for Redis. The retry strategy keeps trying in the background.
  redis.connect().catch(() => {})

  app.addHook('onClose', async () => {
    closing = true
    if (redis.status === 'ready') {
      await redis.quit().catch(() => { redis.disconnect() })
    } else {
      redis.disconnect()
    }
  })
}, { name: 'redis', dependencies: ['config'] })
