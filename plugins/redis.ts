// Our own ioredis client (not @fastify/redis, which holds start-up until Redis answers): the service
// starts and serves while Redis is down, and a health check decides, by results, when lock routes may run.
import fp from 'fastify-plugin'
import { MemoryLockStore, RedisLockStore, type LockStore } from '../services/lock-store.js'
import { createRedisConnection, type RedisClient } from '../services/redis-client.js'
import { RedisHealth } from '../services/redis-health.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The ioredis client (one node, Sentinel or Cluster), or null without Redis (in-process lock store). */
    redis: RedisClient | null
    /** Judges Redis by a heartbeat and by real commands' failures; null without Redis. */
    redisHealth: RedisHealth | null
    lockStore: LockStore
  }
}

/** Good heartbeats in a row that reopen the guard: one good answer amid failures proves little. */
const RECOVER_AFTER = 3

export default fp(async function redisPlugin (app) {
  const { config } = app
  const connection = createRedisConnection(config)
  if (connection === undefined) {
    app.log.warn('REDIS_URL is unset (and so are REDIS_CLUSTER_NODES and REDIS_SENTINELS): using the in-process lock store, which is correct for ONE replica only')
    app.decorate('redis', null)
    app.decorate('redisHealth', null)
    app.decorate('lockStore', new MemoryLockStore())
    return
  }
  if (config.redisUrl !== undefined && (config.redisPassword !== undefined || config.redisTls)) {
    app.log.warn('REDIS_PASSWORD and REDIS_TLS apply to REDIS_CLUSTER_NODES and REDIS_SENTINELS only: REDIS_URL carries its own (rediss://:password@host)')
  }

  const { client, probe } = connection
  const health = new RedisHealth(probe, {
    intervalMs: config.redisHeartbeatIntervalMs,
    timeoutMs: config.redisHeartbeatTimeoutMs,
    recoverAfter: RECOVER_AFTER,
    resetAfterMs: config.redisCommandTimeoutMs + 250,
    log: app.log
  })

  let lastErrorLog = 0
  const logError = (err: Error) => {
    // Every failed reconnect emits an error; one line every 10 s is enough to tell the story.
    const now = Date.now()
    if (now - lastErrorLog > 10_000) {
      lastErrorLog = now
      app.log.warn({ err }, 'redis error')
    }
  }
  client.on('error', logError)
  // A cluster reports its nodes' errors apart from its own.
  client.on('node error', logError)

  app.decorate<RedisClient | null>('redis', client)
  app.decorate('redisHealth', health)
  app.decorate('lockStore', new RedisLockStore(client, health))
  // Not awaited: start-up never waits for Redis. The retry strategy keeps trying in the background.
  client.connect().catch(() => {})
  health.start()

  app.addHook('onClose', async () => {
    health.stop()
    if (client.status === 'ready') {
      await client.quit().catch(() => { client.disconnect() })
    } else {
      client.disconnect()
    }
  })
}, { name: 'redis', dependencies: ['config'] })
