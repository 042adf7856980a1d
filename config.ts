// Environment schema (DESIGN §7) and its loading: validated once at start, then passed around as a value.
import { randomBytes } from 'node:crypto'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

const Port = Type.Integer({ minimum: 0, maximum: 65535 })
/** Seconds, bounded so that every value stays a valid Redis PX / EX and a sane duration. */
const Seconds = (maximum: number) => Type.Integer({ minimum: 1, maximum })
const HOUR = 3600
const DAY = 86400
const LogLevel = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level))
)

export const EnvSchema = Type.Object({
  PORT: Type.Optional(Port),
  HOST: Type.Optional(Type.String({ minLength: 1 })),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  DATA_DIR: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_KEY_PREFIX: Type.Optional(Type.String({ maxLength: 64 })),
  REDIS_COMMAND_TIMEOUT_MS: Type.Optional(Type.Integer({ minimum: 10, maximum: 60000 })),
  PADDLE_WEBHOOK_SECRET: Type.Optional(Type.String()),
  ADMIN_API_TOKEN: Type.Optional(Type.String()),
  WEBHOOK_TOLERANCE_SECONDS: Type.Optional(Seconds(DAY)),
  LOCK_TTL_SECONDS: Type.Optional(Seconds(HOUR)),
  LOCK_TTL_EXTENDED_SECONDS: Type.Optional(Seconds(HOUR)),
  FALLBACK_BUCKET_SIZE: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
  FALLBACK_REFILL_PER_SECOND: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100000 })),
  RETRY_AFTER_SECONDS: Type.Optional(Seconds(HOUR)),
  PROCESSED_TTL_SECONDS: Type.Optional(Seconds(365 * DAY)),
  BODY_LIMIT_BYTES: Type.Optional(Type.Integer({ minimum: 1024, maximum: 10 * 1024 * 1024 })),
  DATABASE_POOL_SIZE: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
  SHUTDOWN_GRACE_MS: Type.Optional(Type.Integer({ minimum: 0, maximum: 600000 })),
  SHUTDOWN_DELAY_MS: Type.Optional(Type.Integer({ minimum: 0, maximum: 60000 })),
  LOG_LEVEL: Type.Optional(LogLevel),
  NODE_ENV: Type.Optional(Type.String()),
  BENCH_ROUTES: Type.Optional(Type.Union([Type.Literal('0'), Type.Literal('1')]))
})

export interface Config {
  port: number
  host: string
  databaseUrl: string | undefined
  dataDir: string
  redisUrl: string | undefined
  redisKeyPrefix: string
  redisCommandTimeoutMs: number
  /** Every secret accepted for `Paddle-Signature` (rotation: the first is the current one). */
  webhookSecrets: string[]
  /** True when no secret was configured and a development one was made up for this process. */
  webhookSecretGenerated: boolean
  adminTokens: string[]
  webhookToleranceSeconds: number
  lockTtlSeconds: number
  lockTtlExtendedSeconds: number
  fallbackBucketSize: number
  fallbackRefillPerSecond: number
  retryAfterSeconds: number
  processedTtlSeconds: number
  bodyLimitBytes: number
  databasePoolSize: number
  shutdownGraceMs: number
  /** After SIGTERM, readiness answers 503 for this long before the port closes. */
  shutdownDelayMs: number
  logLevel: Static<typeof LogLevel>
  production: boolean
  /** Mounts the benchmark's ceiling routes; never set outside `npm run bench`. */
  benchRoutes: boolean
}

export class ConfigError extends Error {
  override name = 'ConfigError'
  constructor (readonly variable: string, message: string) {
    super(`Invalid configuration: ${variable} ${message}`)
  }
}

const SECRET_VARIABLES = new Set(['PADDLE_WEBHOOK_SECRET', 'ADMIN_API_TOKEN', 'DATABASE_URL', 'REDIS_URL'])

function list (value: string | undefined): string[] {
  return (value ?? '').split(',').map((item) => item.trim()).filter((item) => item.length > 0)
}

// Plain decimals only. TypeBox's Value.Convert uses parseInt/parseFloat and maps 'true'/'false' to 1/0, so
// LOCK_TTL_SECONDS=true became 1 s, WEBHOOK_TOLERANCE_SECONDS=5e2 became 5 s and PORT=30.9 became 30.
const DECIMAL = /^-?\d+(\.\d+)?$/

/** Numeric variables become numbers when they are plain decimals; anything else stays a string and fails the check. */
function convertNumbers (raw: Record<string, string>): Record<string, string | number> {
  const out: Record<string, string | number> = {}
  for (const [key, value] of Object.entries(raw)) {
    const type = (EnvSchema.properties as Record<string, { type?: unknown }>)[key]?.type
    out[key] = (type === 'integer' || type === 'number') && DECIMAL.test(value) ? Number(value) : value
  }
  return out
}

/** Reads and validates the environment; throws a ConfigError naming the first bad variable. */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, string> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = env[key]
    // An empty variable means "not set", as in most deployment tools.
    if (value !== undefined && value.trim() !== '') raw[key] = value.trim()
  }
  const converted = convertNumbers(raw)
  const firstError = Value.Errors(EnvSchema, converted).First()
  if (firstError !== undefined) {
    const variable = firstError.path.replace(/^\//, '')
    // Never echo a secret's value back, even a malformed one.
    const shown = SECRET_VARIABLES.has(variable) ? '' : ` (got ${JSON.stringify(raw[variable])})`
    // TypeBox says "expected union value" for a list of choices; the choices themselves help more.
    const choices = (EnvSchema.properties as Record<string, { anyOf?: Array<{ const?: unknown }> }>)[variable]?.anyOf
      ?.map((choice) => choice.const)
    const reason = choices !== undefined && choices.every((choice) => typeof choice === 'string')
      ? `must be one of ${choices.join(', ')}`
      : firstError.message.toLowerCase()
    throw new ConfigError(variable, `${reason}${shown}`)
  }
  const e = converted as Static<typeof EnvSchema>
  const production = e.NODE_ENV === 'production'

  let webhookSecrets = list(e.PADDLE_WEBHOOK_SECRET)
  let webhookSecretGenerated = false
  if (webhookSecrets.length === 0) {
    if (production) throw new ConfigError('PADDLE_WEBHOOK_SECRET', 'is required when NODE_ENV=production')
    webhookSecrets = [`pdl_ntfset_dev_${randomBytes(16).toString('hex')}`]
    webhookSecretGenerated = true
  }

  const config: Config = {
    port: e.PORT ?? 3000,
    host: e.HOST ?? '0.0.0.0',
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR ?? './.data',
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX ?? '',
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS ?? 500,
    webhookSecrets,
    webhookSecretGenerated,
    adminTokens: list(e.ADMIN_API_TOKEN),
    webhookToleranceSeconds: e.WEBHOOK_TOLERANCE_SECONDS ?? 300,
    lockTtlSeconds: e.LOCK_TTL_SECONDS ?? 30,
    lockTtlExtendedSeconds: e.LOCK_TTL_EXTENDED_SECONDS ?? 60,
    fallbackBucketSize: e.FALLBACK_BUCKET_SIZE ?? 10,
    fallbackRefillPerSecond: e.FALLBACK_REFILL_PER_SECOND ?? 10,
    retryAfterSeconds: e.RETRY_AFTER_SECONDS ?? 30,
    processedTtlSeconds: e.PROCESSED_TTL_SECONDS ?? 345600,
    bodyLimitBytes: e.BODY_LIMIT_BYTES ?? 262144,
    databasePoolSize: e.DATABASE_POOL_SIZE ?? 20,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS ?? 25000,
    shutdownDelayMs: e.SHUTDOWN_DELAY_MS ?? 0,
    logLevel: e.LOG_LEVEL ?? 'info',
    production,
    benchRoutes: e.BENCH_ROUTES === '1'
  }
  if (config.lockTtlExtendedSeconds < config.lockTtlSeconds) {
    throw new ConfigError('LOCK_TTL_EXTENDED_SECONDS', `must be at least LOCK_TTL_SECONDS (${config.lockTtlSeconds})`)
  }
  return config
}

/** A config for tests and tools: defaults, then the given overrides, without reading process.env. */
export function testConfig (overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({ PADDLE_WEBHOOK_SECRET: 'test-secret', LOG_LEVEL: 'silent' }), ...overrides }
}
