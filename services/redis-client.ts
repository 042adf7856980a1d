// The ioredis client for each Redis topology (one node, Sentinel, Cluster), with the options that make it fail
// fast, and the probe the health check uses to judge it (services/redis-health.ts).
import { Buffer } from 'node:buffer'
import { isIP } from 'node:net'
import { checkServerIdentity, type PeerCertificate } from 'node:tls'
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { Config } from '../config.js'
import { RedisHealthError, type HealthProbe } from './redis-health.js'

export type RedisClient = Redis | Cluster

/** Back-off between reconnection attempts: quick at first, then every second, forever. */
export function reconnectDelayMs (attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 5), 1000)
}

/** The heartbeat's key for candidate `n` (the key prefix is added by ioredis, as for every key). */
export const heartbeatKey = (n: number): string => `heartbeat:{${n}}`
/** Heartbeat keys expire by themselves; each replica rewrites the same few. */
const HEARTBEAT_TTL_MS = 5000

type RedisSettings = Pick<Config, 'redisUrl' | 'redisClusterNodes' | 'redisSentinels' | 'redisSentinelMaster' |
'redisPassword' | 'redisSentinelPassword' | 'redisTls' | 'redisKeyPrefix' | 'redisCommandTimeoutMs'>

export interface RedisConnection {
  client: RedisClient
  probe: HealthProbe
}

/** The client of the one Redis form the configuration names, or undefined when it names none. */
export function createRedisConnection (config: RedisSettings): RedisConnection | undefined {
  // Fail fast: no queue while disconnected, no retry of a command, a short timeout on each, and a
  // connection being dropped is destroyed soon even when a hung server never closes its side.
  const failFast = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: config.redisCommandTimeoutMs,
    connectTimeout: 2000,
    disconnectTimeout: 200,
    connectionName: 'billing-webhooks'
  } satisfies RedisOptions
  // REDIS_PASSWORD and REDIS_TLS are for the cluster and sentinel forms; a URL carries its own.
  const auth = {
    ...(config.redisPassword !== undefined ? { password: config.redisPassword } : {}),
    ...(config.redisTls ? { tls: {} } : {})
  }

  if (config.redisClusterNodes.length > 0) {
    const seeds = config.redisClusterNodes.map(hostPort)
    const named = seeds.find((seed) => isIP(seed.host) === 0)?.host
    const clusterAuth = {
      ...auth,
      ...(config.redisTls ? { tls: { checkServerIdentity: clusterServerIdentity(named) } } : {})
    }
    const cluster = new Cluster(seeds, {
      lazyConnect: true,
      keyPrefix: config.redisKeyPrefix,
      enableOfflineQueue: false,
      scaleReads: 'master',
      enableAutoPipelining: true,
      clusterRetryStrategy: reconnectDelayMs,
      // A command that meets a failover or CLUSTERDOWN fails at once and reports it; the health check
      // closes the guard and reopens it once the cluster answers again, instead of each request
      // retrying for up to 16 × 100 ms.
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      slotsRefreshTimeout: 1000,
      slotsRefreshInterval: 2000,
      // Managed clusters with TLS (ElastiCache) announce hostnames their certificates name: connect by name.
      ...(config.redisTls ? { dnsLookup: (address, callback) => { callback(null, address) } } : {}),
      redisOptions: { ...failFast, ...clusterAuth }
    } satisfies ClusterOptions)
    return { client: cluster, probe: new ClusterProbe(cluster, config.redisKeyPrefix) }
  }

  const common = {
    ...failFast,
    lazyConnect: true,
    keyPrefix: config.redisKeyPrefix,
    retryStrategy: reconnectDelayMs,
    // Commands issued in the same tick share one write: fewer syscalls under load, same semantics.
    enableAutoPipelining: true
  } satisfies RedisOptions

  if (config.redisSentinels.length > 0 && config.redisSentinelMaster !== undefined) {
    const sentinelAuth = {
      ...(config.redisSentinelPassword !== undefined ? { password: config.redisSentinelPassword } : {}),
      ...(config.redisTls ? { tls: {} } : {})
    }
    const redis = new Redis({
      ...common,
      ...auth,
      sentinels: config.redisSentinels.map(hostPort),
      name: config.redisSentinelMaster,
      ...(config.redisSentinelPassword !== undefined ? { sentinelPassword: config.redisSentinelPassword } : {}),
      // With REDIS_TLS, the sentinels are reached over TLS as well as the master.
      ...(config.redisTls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      sentinelCommandTimeout: config.redisCommandTimeoutMs,
      sentinelRetryStrategy: reconnectDelayMs
    })
    const sentinels = { addresses: config.redisSentinels.map(hostPort), name: config.redisSentinelMaster, options: sentinelAuth }
    return { client: redis, probe: new NodeProbe(redis, 'sentinel', sentinels) }
  }

  if (config.redisUrl !== undefined) {
    const redis = new Redis(config.redisUrl, common)
    return { client: redis, probe: new NodeProbe(redis, 'standalone') }
  }
  return undefined
}

/**
 * TLS identity for cluster nodes. A node is checked against the name it is reached by; one announced by IP
 * (Azure Cache for Redis does this) whose certificate names no IP is checked against the seeds' host name,
 * the name the operator configured and the certificate was issued for.
 */
export function clusterServerIdentity (seedHost: string | undefined) {
  return (host: string, cert: PeerCertificate): Error | undefined => {
    const err = checkServerIdentity(host, cert)
    if (err === undefined || seedHost === undefined || isIP(host) === 0) return err
    return checkServerIdentity(seedHost, cert)
  }
}

function hostPort (value: string): { host: string, port: number } {
  const colon = value.lastIndexOf(':')
  return { host: value.slice(0, colon), port: Number(value.slice(colon + 1)) }
}

/** The commands a node's client holds: sent and unanswered, waiting offline, or gathered for a pipeline. */
function held (redis: Redis): number {
  const offline = (redis as unknown as { offlineQueue?: { length: number } }).offlineQueue?.length ?? 0
  return redis.commandQueue.length + offline + redis.autoPipelineQueueSize
}

interface SentinelSet {
  addresses: Array<{ host: string, port: number }>
  name: string
  options: RedisOptions
}

/** One node, or the master a Sentinel set names: a write to one key proves it takes writes. */
export class NodeProbe implements HealthProbe {
  constructor (private readonly redis: Redis, readonly topology: 'standalone' | 'sentinel', private readonly sentinels?: SentinelSet) {}

  /**
   * With Sentinel, listens for +switch-master: a master that was replaced while it still answers (a failover
   * Sentinel was asked for, a partition that healed) is left at once, not when Sentinel gets round to
   * demoting it, seconds later. (ioredis's own failoverDetector prints unhandled errors whenever a sentinel
   * is down, and outlives quit().)
   */
  watch (report: (err: unknown) => void): () => void {
    const set = this.sentinels
    if (set === undefined) return () => {}
    let last = ''
    const subscribers = set.addresses.map((address) => {
      const subscriber = new Redis({ ...address, ...set.options, retryStrategy: reconnectDelayMs, connectTimeout: 2000, maxRetriesPerRequest: null })
      subscriber.on('error', () => {})
      subscriber.subscribe('+switch-master').catch(() => {})
      subscriber.on('message', (_channel: string, message: string) => {
        // "<name> <old ip> <old port> <new ip> <new port>", once from each sentinel.
        if (message.split(' ')[0] !== set.name || message === last) return
        last = message
        report(new RedisHealthError('failover', 'the sentinels switched to a new master'))
        this.redis.disconnect(true)
      })
      return subscriber
    })
    return () => { for (const subscriber of subscribers) subscriber.disconnect() }
  }

  connected (): boolean { return this.redis.status === 'ready' }

  async beat (): Promise<void> {
    // A write, not PING: a replica answers PING, and READONLY only to a write.
    await this.redis.set(heartbeatKey(0), '1', 'PX', HEARTBEAT_TTL_MS)
  }

  reset (): void { this.redis.disconnect(true) }

  pending (): number { return held(this.redis) }
}

export const CLUSTER_SLOTS = 16384

/**
 * A cluster: a write reaches every master that owns slots (one hash-tagged key per master), CLUSTER INFO
 * says `cluster_state:ok`, every slot has an owner, and the owners are the ones the previous heartbeat saw:
 * a failover or a slot move closes the guard until the new layout has answered for a while.
 */
export class ClusterProbe implements HealthProbe {
  readonly topology = 'cluster'
  private layout: string | undefined
  private keys: string[] = []

  constructor (private readonly cluster: Cluster, private readonly keyPrefix: string) {}

  connected (): boolean { return this.cluster.status === 'ready' }

  async beat (): Promise<void> {
    this.checkLayout()
    const [info] = await Promise.all([
      this.cluster.cluster('INFO'),
      ...this.keys.map((key) => this.cluster.set(key, '1', 'PX', HEARTBEAT_TTL_MS))
    ])
    if (!/^cluster_state:ok\b/m.test(String(info))) throw new RedisHealthError('cluster', 'cluster_state is not ok')
    // A write redirected by MOVED has just updated the client's slot table: a failover seen now, not a beat later.
    this.checkLayout()
  }

  private checkLayout (): void {
    const layout = slotLayout(this.cluster.slots)
    if (layout === undefined) throw new RedisHealthError('cluster', 'some hash slots have no master')
    if (layout === this.layout) return
    const before = this.layout
    this.layout = layout
    this.keys = heartbeatKeys(this.cluster.slots, this.keyPrefix)
    if (before !== undefined) throw new RedisHealthError('failover', 'the masters that own the hash slots changed')
  }

  reset (): void { this.cluster.disconnect(true) }

  pending (): number {
    const own = (this.cluster as unknown as { offlineQueue?: { length: number } }).offlineQueue?.length ?? 0
    return this.cluster.nodes('all').reduce((sum, node) => sum + held(node), own + this.cluster.autoPipelineQueueSize)
  }
}

/** Each slot range and its master, as one string; undefined when a slot has no master. */
export function slotLayout (slots: string[][]): string | undefined {
  const ranges: string[] = []
  let start = 0
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) {
    const owner = slots[slot]?.[0]
    if (owner === undefined) return undefined
    if (slot + 1 === CLUSTER_SLOTS || slots[slot + 1]?.[0] !== owner) {
      ranges.push(`${start}-${slot}=${owner}`)
      start = slot + 1
    }
  }
  return ranges.join(',')
}

/**
 * One heartbeat key per master, chosen by hashing candidates as Redis does (the key prefix included), so that
 * the write lands on that master's slots. Every replica picks the same keys. A master that no key can reach
 * (a key prefix with its own hash tag sends every key to one slot) is one our locks never use either.
 */
export function heartbeatKeys (slots: string[][], keyPrefix: string): string[] {
  const masters = new Set<string>()
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) {
    const owner = slots[slot]?.[0]
    if (owner !== undefined) masters.add(owner)
  }
  const keys = new Map<string, string>()
  for (let n = 0; keys.size < masters.size && n < 4 * CLUSTER_SLOTS; n++) {
    const key = heartbeatKey(n)
    const owner = slots[keySlot(keyPrefix + key)]?.[0]
    if (owner !== undefined && !keys.has(owner)) keys.set(owner, key)
  }
  return [...keys.values()]
}

/** The cluster slot of a key: CRC16 (XMODEM) of its hash tag, or of the whole key without one. */
export function keySlot (key: string): number {
  let hashed = key
  const open = key.indexOf('{')
  if (open !== -1) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) hashed = key.slice(open + 1, close)
  }
  let crc = 0
  for (const byte of Buffer.from(hashed)) {
    crc ^= byte << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc % CLUSTER_SLOTS
}
