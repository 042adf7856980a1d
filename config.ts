// The environment, validated once at start. One schema says everything about a setting: its variable, its
// type and bounds, and its default; the Config type is derived from it (see ARCHITECTURE.md, "Configuration").
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Type, type StaticDecode, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

const HOUR = 3600
const DAY = 86400

/** Seconds, bounded so that every value stays a valid Redis PX / EX and a sane duration. */
const Seconds = (env: string, fallback: number, maximum: number) =>
  Type.Integer({ env, default: fallback, minimum: 1, maximum })
const Choice = <const T extends readonly string[]>(env: string, choices: T, fallback: T[number]) =>
  Type.Union(choices.map((choice) => Type.Literal(choice)), { env, default: fallback }) as unknown as TUnion<[TLiteral<T[number]>]>
/** A comma-separated list: `a, b,,c` is `['a', 'b', 'c']`. */
const List = (env: string) => Type.Transform(Type.String({ env, default: '' }))
  .Decode((value) => value.split(',').map((item) => item.trim()).filter((item) => item !== ''))
  .Encode((items) => items.join(','))
const Flag = (env: string) => Type.Transform(Choice(env, ['true', 'false', '1', '0'], 'false'))
  .Decode((value) => value === 'true' || value === '1')
  .Encode((value) => (value ? 'true' : 'false'))
const HostPort = '^[^\\s,:]+:\\d{1,5}$'

export const ConfigSchema = Type.Object({
  port: Type.Integer({ env: 'PORT', default: 3000, minimum: 0, maximum: 65535 }),
  host: Type.String({ env: 'HOST', default: '0.0.0.0', minLength: 1 }),

  databaseUrl: Type.Optional(Type.String({ env: 'DATABASE_URL', pattern: '^postgres(ql)?://' })),
  databasePoolMode: Choice('DATABASE_POOL_MODE', ['session', 'transaction'], 'session'),
  databasePoolSize: Type.Integer({ env: 'DATABASE_POOL_SIZE', default: 20, minimum: 1, maximum: 200 }),
  dataDir: Type.String({ env: 'DATA_DIR', default: './.data', minLength: 1 }),

  redisUrl: Type.Optional(Type.String({ env: 'REDIS_URL', pattern: '^rediss?://' })),
  redisClusterNodes: List('REDIS_CLUSTER_NODES'),
  redisSentinels: List('REDIS_SENTINELS'),
  redisSentinelMaster: Type.Optional(Type.String({ env: 'REDIS_SENTINEL_MASTER', minLength: 1, maxLength: 256 })),
  redisPassword: Type.Optional(Type.String({ env: 'REDIS_PASSWORD' })),
  /** The sentinels' own password, when they have one (REDIS_PASSWORD is the master's). */
  redisSentinelPassword: Type.Optional(Type.String({ env: 'REDIS_SENTINEL_PASSWORD' })),
  redisTls: Flag('REDIS_TLS'),
  redisKeyPrefix: Type.String({ env: 'REDIS_KEY_PREFIX', default: '', maxLength: 64 }),
  redisCommandTimeoutMs: Type.Integer({ env: 'REDIS_COMMAND_TIMEOUT_MS', default: 500, minimum: 10, maximum: 60000 }),
  /** The health check's heartbeat: how often it writes, and how long it waits for the answer. */
  redisHeartbeatIntervalMs: Type.Integer({ env: 'REDIS_HEARTBEAT_INTERVAL_MS', default: 250, minimum: 10, maximum: 10000 }),
  redisHeartbeatTimeoutMs: Type.Integer({ env: 'REDIS_HEARTBEAT_TIMEOUT_MS', default: 500, minimum: 10, maximum: 60000 }),

  /** Every secret accepted for `Paddle-Signature` (rotation: add the new one, then remove the old). */
  webhookSecrets: List('PADDLE_WEBHOOK_SECRET'),
  adminTokens: List('ADMIN_API_TOKEN'),
  priceCatalog: Type.Optional(Type.String({ env: 'PRICE_CATALOG', minLength: 1 })),

  paddleApiKey: Type.Optional(Type.String({ env: 'PADDLE_API_KEY', minLength: 1 })),
  paddleApiUrl: Type.String({ env: 'PADDLE_API_URL', default: 'https://api.paddle.com', pattern: '^https?://[^\\s]+$' }),
  reconcileIntervalSeconds: Type.Integer({ env: 'RECONCILE_INTERVAL_SECONDS', default: 300, minimum: 0, maximum: DAY }),
  reconcileLookbackHours: Type.Integer({ env: 'RECONCILE_LOOKBACK_HOURS', default: 72, minimum: 1, maximum: 90 * 24 }),

  eventRetentionDays: Type.Integer({ env: 'EVENT_RETENTION_DAYS', default: 90, minimum: 90, maximum: 3650 }),
  idempotencyKeyRetentionHours: Type.Integer({ env: 'IDEMPOTENCY_KEY_RETENTION_HOURS', default: 24, minimum: 1, maximum: 365 * 24 }),

  webhookToleranceSeconds: Seconds('WEBHOOK_TOLERANCE_SECONDS', 300, DAY),
  lockTtlSeconds: Seconds('LOCK_TTL_SECONDS', 30, HOUR),
  lockTtlExtendedSeconds: Seconds('LOCK_TTL_EXTENDED_SECONDS', 60, HOUR),
  fallbackBucketSize: Type.Integer({ env: 'FALLBACK_BUCKET_SIZE', default: 10, minimum: 1, maximum: 100000 }),
  fallbackRefillPerSecond: Type.Number({ env: 'FALLBACK_REFILL_PER_SECOND', default: 10, exclusiveMinimum: 0, maximum: 100000 }),
  retryAfterSeconds: Seconds('RETRY_AFTER_SECONDS', 30, HOUR),
  processedTtlSeconds: Seconds('PROCESSED_TTL_SECONDS', 345600, 365 * DAY),
  bodyLimitBytes: Type.Integer({ env: 'BODY_LIMIT_BYTES', default: 262144, minimum: 1024, maximum: 10 * 1024 * 1024 }),

  shutdownGraceMs: Type.Integer({ env: 'SHUTDOWN_GRACE_MS', default: 25000, minimum: 0, maximum: 600000 }),
  /** After SIGTERM, readiness answers 503 for this long before the port closes. */
  shutdownDelayMs: Type.Integer({ env: 'SHUTDOWN_DELAY_MS', default: 0, minimum: 0, maximum: 60000 }),
  logLevel: Choice('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
  nodeEnv: Type.String({ env: 'NODE_ENV', default: 'development' }),
  /** Mounts the benchmark's ceiling routes; set only by `npm run bench`, refused in production. */
  benchRoutes: Flag('BENCH_ROUTES')
})

export type Config = StaticDecode<typeof ConfigSchema> & {
  /** Set when PADDLE_WEBHOOK_SECRET was unset outside production: the development secret's file, or `memory`. */
  developmentSecret?: string
}

export class ConfigError extends Error {
  override name = 'ConfigError'
  constructor (readonly variable: string, message: string) {
    super(`Invalid configuration: ${variable} ${message}`)
  }
}

type Property = TSchema & { env: string, type?: unknown, anyOf?: Array<{ const?: unknown }> }
const properties = ConfigSchema.properties as unknown as Record<string, Property>

/** Every variable the service reads, by its environment name. */
export const CONFIG_VARIABLES: readonly string[] = Object.values(properties).map((property) => property.env)
const SECRET_VARIABLES = new Set(['PADDLE_WEBHOOK_SECRET', 'ADMIN_API_TOKEN', 'DATABASE_URL', 'REDIS_URL', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD', 'PADDLE_API_KEY'])

// Plain decimals only. TypeBox's Value.Convert uses parseInt/parseFloat and maps 'true'/'false' to 1/0, so
// LOCK_TTL_SECONDS=true would become 1 s, WEBHOOK_TOLERANCE_SECONDS=5e2 5 s and PORT=30.9 30.
const DECIMAL = /^-?\d+(\.\d+)?$/

/** Reads and validates the environment; throws a ConfigError naming the first bad variable. */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, string | number> = {}
  for (const [key, property] of Object.entries(properties)) {
    // An empty variable means "not set", as in most deployment tools.
    const value = env[property.env]?.trim()
    if (value === undefined || value === '') continue
    const numeric = property.type === 'integer' || property.type === 'number'
    raw[key] = numeric && DECIMAL.test(value) ? Number(value) : value
  }
  const withDefaults = Value.Default(ConfigSchema, raw)
  const error = Value.Errors(ConfigSchema, withDefaults).First()
  if (error !== undefined) {
    const property = properties[error.path.replace(/^\//, '')]
    const variable = property?.env ?? error.path
    // Never echo a secret's value back, even a malformed one.
    const given = raw[error.path.replace(/^\//, '')]
    const shown = SECRET_VARIABLES.has(variable) ? '' : ` (got ${JSON.stringify(given)})`
    // TypeBox says "expected union value" for a list of choices; the choices themselves help more.
    const choices = property?.anyOf?.map((choice) => choice.const)
    const reason = choices !== undefined && choices.every((choice) => typeof choice === 'string')
      ? `must be one of ${choices.join(', ')}`
      : error.message.toLowerCase()
    throw new ConfigError(variable, `${reason}${shown}`)
  }
  const config: Config = Value.Decode(ConfigSchema, withDefaults)
  checkRules(config)
  return config.webhookSecrets.length === 0 ? withDevelopmentSecret(config) : config
}

/** The rules that tie several variables together, or depend on NODE_ENV=production. */
function checkRules (config: Config): void {
  if (config.lockTtlExtendedSeconds < config.lockTtlSeconds) {
    throw new ConfigError('LOCK_TTL_EXTENDED_SECONDS', `must be at least LOCK_TTL_SECONDS (${config.lockTtlSeconds})`)
  }
  const redisForms = [
    config.redisUrl !== undefined && 'REDIS_URL',
    config.redisClusterNodes.length > 0 && 'REDIS_CLUSTER_NODES',
    config.redisSentinels.length > 0 && 'REDIS_SENTINELS'
  ].filter((form): form is string => form !== false)
  if (redisForms.length > 1) {
    throw new ConfigError(redisForms[0] ?? '', `and ${redisForms.slice(1).join(' and ')} are both set: choose one Redis topology`)
  }
  if ((config.redisSentinels.length > 0) !== (config.redisSentinelMaster !== undefined)) {
    throw new ConfigError(config.redisSentinels.length > 0 ? 'REDIS_SENTINEL_MASTER' : 'REDIS_SENTINELS',
      'is required with REDIS_SENTINELS and REDIS_SENTINEL_MASTER: set both or neither')
  }
  for (const [variable, nodes] of [['REDIS_CLUSTER_NODES', config.redisClusterNodes], ['REDIS_SENTINELS', config.redisSentinels]] as const) {
    const bad = nodes.find((node) => !new RegExp(HostPort).test(node))
    if (bad !== undefined) throw new ConfigError(variable, `must be comma-separated host:port pairs (got ${JSON.stringify(bad)})`)
  }
  if (config.nodeEnv !== 'production') return
  if (config.webhookSecrets.length === 0) throw new ConfigError('PADDLE_WEBHOOK_SECRET', 'is required when NODE_ENV=production')
  if (config.adminTokens.some((token) => token.length < 32)) {
    throw new ConfigError('ADMIN_API_TOKEN', 'must hold tokens of at least 32 characters each when NODE_ENV=production')
  }
  if (config.priceCatalog === undefined) throw new ConfigError('PRICE_CATALOG', 'is required when NODE_ENV=production')
  if (config.benchRoutes) throw new ConfigError('BENCH_ROUTES', 'is a benchmark switch and is refused when NODE_ENV=production')
}

/**
 * Outside production, an unset PADDLE_WEBHOOK_SECRET becomes a development secret kept in DATA_DIR (or ./.data
 * when DATA_DIR is not a directory, as with memory://), stable across restarts so the sample sender can read
 * it. When that file cannot be written, the secret lives for this process only.
 */
function withDevelopmentSecret (config: Config): Config {
  const file = join(config.dataDir.includes('://') ? './.data' : config.dataDir, 'dev-webhook-secret')
  try {
    const kept = readFileSync(file, 'utf8').trim()
    if (kept !== '') return { ...config, webhookSecrets: [kept], developmentSecret: file }
  } catch {}
  const secret = `pdl_ntfset_dev_${randomBytes(16).toString('hex')}`
  try {
    mkdirSync(join(file, '..'), { recursive: true })
    writeFileSync(file, `${secret}\n`, { mode: 0o600 })
    return { ...config, webhookSecrets: [secret], developmentSecret: file }
  } catch {
    return { ...config, webhookSecrets: [secret], developmentSecret: 'memory' }
  }
}
