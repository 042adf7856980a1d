import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../../config.js'

/** The ConfigError a bad environment throws (fails the test when it does not throw one). */
function refusal (env: Record<string, string>): ConfigError {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error(`accepted ${JSON.stringify(env)}`)
}

interface Teardown { teardown(fn: () => unknown): void }

/** A fresh directory for the development secret, so no test writes into the repository's ./.data. */
function scratch (t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), 'bw-config-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

t.test('defaults as documented', async (t) => {
  const dataDir = scratch(t)
  const config = loadConfig({ DATA_DIR: dataDir })
  t.same(config, {
    port: 3000,
    host: '0.0.0.0',
    databasePoolMode: 'session',
    databasePoolSize: 20,
    dataDir,
    redisClusterNodes: [],
    redisSentinels: [],
    redisTls: false,
    redisKeyPrefix: '',
    redisCommandTimeoutMs: 500,
    redisHeartbeatIntervalMs: 250,
    redisHeartbeatTimeoutMs: 500,
    webhookSecrets: [config.webhookSecrets[0]],
    adminTokens: [],
    paddleApiUrl: 'https://api.paddle.com',
    reconcileIntervalSeconds: 300,
    reconcileLookbackHours: 72,
    eventRetentionDays: 90,
    idempotencyKeyRetentionHours: 24,
    webhookToleranceSeconds: 300,
    lockTtlSeconds: 30,
    lockTtlExtendedSeconds: 60,
    fallbackBucketSize: 10,
    fallbackRefillPerSecond: 10,
    retryAfterSeconds: 30,
    processedTtlSeconds: 345600,
    bodyLimitBytes: 262144,
    shutdownGraceMs: 25000,
    shutdownDelayMs: 0,
    logLevel: 'info',
    nodeEnv: 'development',
    benchRoutes: false,
    developmentSecret: join(dataDir, 'dev-webhook-secret')
  })
  t.match(config.webhookSecrets[0], /^pdl_ntfset_dev_[0-9a-f]{32}$/, 'a development secret outside production')
  t.equal(readFileSync(join(dataDir, 'dev-webhook-secret'), 'utf8').trim(), config.webhookSecrets[0], 'kept in DATA_DIR for the sample sender')
  t.equal(loadConfig({ DATA_DIR: dataDir }).webhookSecrets[0], config.webhookSecrets[0], 'the same secret after a restart')
  t.not(loadConfig({ DATA_DIR: scratch(t) }).webhookSecrets[0], config.webhookSecrets[0], 'another directory, another secret: never a constant')
  t.equal(loadConfig({ PORT: '', LOG_LEVEL: '   ', PADDLE_WEBHOOK_SECRET: 's' }).port, 3000, 'an empty PORT is the default')
  t.equal(loadConfig({ PORT: '', LOG_LEVEL: '   ', PADDLE_WEBHOOK_SECRET: 's' }).logLevel, 'info', 'a blank LOG_LEVEL is the default')
})

t.test('an unwritable DATA_DIR keeps the development secret in memory', async (t) => {
  const dir = scratch(t)
  const file = join(dir, 'a-file')
  writeFileSync(file, '')
  const config = loadConfig({ DATA_DIR: join(file, 'below-a-file') })
  t.equal(config.developmentSecret, 'memory')
  t.match(config.webhookSecrets[0], /^pdl_ntfset_dev_[0-9a-f]{32}$/)
})

t.test('every variable is read', async (t) => {
  const env: Record<string, string> = {
    PORT: '8080',
    HOST: '127.0.0.1',
    DATABASE_URL: 'postgresql://u:p@db:5432/billing',
    DATABASE_POOL_MODE: 'transaction',
    DATABASE_POOL_SIZE: '7',
    DATA_DIR: '/var/lib/bw',
    REDIS_URL: 'rediss://cache:6380',
    REDIS_CLUSTER_NODES: '',
    REDIS_SENTINELS: '',
    REDIS_SENTINEL_MASTER: '',
    REDIS_PASSWORD: 'pw',
    REDIS_SENTINEL_PASSWORD: 'spw',
    REDIS_TLS: 'true',
    REDIS_KEY_PREFIX: 'bw:',
    REDIS_COMMAND_TIMEOUT_MS: '250',
    REDIS_HEARTBEAT_INTERVAL_MS: '100',
    REDIS_HEARTBEAT_TIMEOUT_MS: '300',
    PADDLE_WEBHOOK_SECRET: ' new , old ,',
    ADMIN_API_TOKEN: 'a'.repeat(32) + ', ' + 'b'.repeat(40),
    PRICE_CATALOG: '/etc/bw/prices.json',
    PADDLE_API_KEY: 'pdl_live_apikey_x',
    PADDLE_API_URL: 'http://127.0.0.1:9999',
    RECONCILE_INTERVAL_SECONDS: '0',
    RECONCILE_LOOKBACK_HOURS: '24',
    EVENT_RETENTION_DAYS: '120',
    IDEMPOTENCY_KEY_RETENTION_HOURS: '48',
    WEBHOOK_TOLERANCE_SECONDS: '  60 ',
    LOCK_TTL_SECONDS: '20',
    LOCK_TTL_EXTENDED_SECONDS: '40',
    FALLBACK_BUCKET_SIZE: '5',
    FALLBACK_REFILL_PER_SECOND: '2.5',
    RETRY_AFTER_SECONDS: '15',
    PROCESSED_TTL_SECONDS: '86400',
    BODY_LIMIT_BYTES: '1024',
    SHUTDOWN_GRACE_MS: '5000',
    SHUTDOWN_DELAY_MS: '1500',
    LOG_LEVEL: 'debug',
    NODE_ENV: 'production',
    BENCH_ROUTES: '0'
  }
  const variables = CONFIG_VARIABLES
  t.same(Object.keys(env).sort(), [...variables].sort(), 'this test sets every variable the schema knows')
  t.same(loadConfig(env), {
    port: 8080,
    host: '127.0.0.1',
    databaseUrl: 'postgresql://u:p@db:5432/billing',
    databasePoolMode: 'transaction',
    databasePoolSize: 7,
    dataDir: '/var/lib/bw',
    redisUrl: 'rediss://cache:6380',
    redisClusterNodes: [],
    redisSentinels: [],
    redisPassword: 'pw',
    redisSentinelPassword: 'spw',
    redisTls: true,
    redisKeyPrefix: 'bw:',
    redisCommandTimeoutMs: 250,
    redisHeartbeatIntervalMs: 100,
    redisHeartbeatTimeoutMs: 300,
    webhookSecrets: ['new', 'old'],
    adminTokens: ['a'.repeat(32), 'b'.repeat(40)],
    priceCatalog: '/etc/bw/prices.json',
    paddleApiKey: 'pdl_live_apikey_x',
    paddleApiUrl: 'http://127.0.0.1:9999',
    reconcileIntervalSeconds: 0,
    reconcileLookbackHours: 24,
    eventRetentionDays: 120,
    idempotencyKeyRetentionHours: 48,
    webhookToleranceSeconds: 60,
    lockTtlSeconds: 20,
    lockTtlExtendedSeconds: 40,
    fallbackBucketSize: 5,
    fallbackRefillPerSecond: 2.5,
    retryAfterSeconds: 15,
    processedTtlSeconds: 86400,
    bodyLimitBytes: 1024,
    shutdownGraceMs: 5000,
    shutdownDelayMs: 1500,
    logLevel: 'debug',
    nodeEnv: 'production',
    benchRoutes: false
  })
  const base = { PADDLE_WEBHOOK_SECRET: 's' }
  t.equal(loadConfig({ ...base, LOCK_TTL_SECONDS: '45' }).lockTtlExtendedSeconds, 60, 'LOCK_TTL_SECONDS up to the extended default is fine')
  t.equal(loadConfig({ ...base, LOCK_TTL_SECONDS: '60', LOCK_TTL_EXTENDED_SECONDS: '60' }).lockTtlExtendedSeconds, 60, 'equal TTLs are fine')
  t.equal(loadConfig({ ...base, DATABASE_URL: 'postgres://db/x' }).databaseUrl, 'postgres://db/x', 'postgres:// as well as postgresql://')
  t.equal(loadConfig({ ...base, REDIS_URL: 'redis://cache:6379/2' }).redisUrl, 'redis://cache:6379/2', 'redis:// as well as rediss://')
  t.same(loadConfig({ ...base, REDIS_CLUSTER_NODES: 'a:7000, b:7001' }).redisClusterNodes, ['a:7000', 'b:7001'], 'cluster seeds')
  t.same(loadConfig({ ...base, REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_MASTER: 'mymaster' }).redisSentinels, ['a:26379'], 'sentinels')
  t.equal(loadConfig({ ...base, BENCH_ROUTES: '1' }).benchRoutes, true, 'the bench switch outside production')
})

t.test('Redis topologies: exactly one form, and sentinels with their master', async (t) => {
  const two = refusal({ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'b:7000' })
  t.match(two.message, /REDIS_URL and REDIS_CLUSTER_NODES are both set/, 'two forms name both variables')
  t.match(refusal({ REDIS_CLUSTER_NODES: 'b:7000', REDIS_SENTINELS: 'c:26379', REDIS_SENTINEL_MASTER: 'm' }).message, /REDIS_CLUSTER_NODES and REDIS_SENTINELS/)
  t.equal(refusal({ REDIS_SENTINELS: 'c:26379' }).variable, 'REDIS_SENTINEL_MASTER', 'sentinels without a master')
  t.equal(refusal({ REDIS_SENTINEL_MASTER: 'm' }).variable, 'REDIS_SENTINELS', 'a master without sentinels')
  t.equal(refusal({ REDIS_CLUSTER_NODES: 'b' }).variable, 'REDIS_CLUSTER_NODES', 'a seed without a port')
  t.equal(refusal({ REDIS_SENTINELS: 'c:x', REDIS_SENTINEL_MASTER: 'm' }).variable, 'REDIS_SENTINELS')
})

t.test('production: admin tokens of 32 characters, a catalogue, no bench switch', async (t) => {
  const prod = { NODE_ENV: 'production', PADDLE_WEBHOOK_SECRET: 's', PRICE_CATALOG: '/x.json' }
  t.equal(refusal({ ...prod, ADMIN_API_TOKEN: 'short' }).variable, 'ADMIN_API_TOKEN')
  t.notMatch(refusal({ ...prod, ADMIN_API_TOKEN: 'short' }).message, /short/, 'the token is not echoed')
  t.equal(refusal({ ...prod, PRICE_CATALOG: '' }).variable, 'PRICE_CATALOG')
  t.equal(refusal({ ...prod, BENCH_ROUTES: '1' }).variable, 'BENCH_ROUTES')
  t.doesNotThrow(() => loadConfig({ ...prod, ADMIN_API_TOKEN: 'x'.repeat(32) }))
  t.doesNotThrow(() => loadConfig({ PADDLE_WEBHOOK_SECRET: 's', ADMIN_API_TOKEN: 'short' }), 'short tokens are fine outside production')
})

t.test('each invalid value stops the start with a message naming the variable', async (t) => {
  const cases: Array<[string, string]> = [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    // TypeBox's own conversion read these as 1, 1, 30 and 1: a silent, wrong number instead of a refusal.
    ['PORT', '1e3'],
    ['PORT', 'true'],
    ['PORT', '30.5'],
    ['PORT', '0x10'],
    ['DATABASE_URL', 'mysql://x'],
    ['REDIS_URL', 'http://x'],
    ['REDIS_KEY_PREFIX', 'x'.repeat(65)],
    ['REDIS_COMMAND_TIMEOUT_MS', '1'],
    ['REDIS_HEARTBEAT_INTERVAL_MS', '0'],
    ['REDIS_HEARTBEAT_TIMEOUT_MS', '60001'],
    ['WEBHOOK_TOLERANCE_SECONDS', '-5'],
    ['WEBHOOK_TOLERANCE_SECONDS', '5e2'],
    ['LOCK_TTL_SECONDS', '0'],
    ['LOCK_TTL_SECONDS', 'true'],
    ['LOCK_TTL_EXTENDED_SECONDS', '1.5'],
    ['FALLBACK_BUCKET_SIZE', 'ten'],
    ['FALLBACK_BUCKET_SIZE', '1_000'],
    ['FALLBACK_REFILL_PER_SECOND', '-1'],
    ['FALLBACK_REFILL_PER_SECOND', '0'],
    ['FALLBACK_REFILL_PER_SECOND', 'Infinity'],
    ['FALLBACK_REFILL_PER_SECOND', 'NaN'],
    ['RETRY_AFTER_SECONDS', '0'],
    ['PROCESSED_TTL_SECONDS', 'forever'],
    ['PROCESSED_TTL_SECONDS', 'false'],
    ['BODY_LIMIT_BYTES', '1'],
    ['BODY_LIMIT_BYTES', '99999999999'],
    ['DATABASE_POOL_SIZE', '1000'],
    ['SHUTDOWN_GRACE_MS', '-1'],
    ['SHUTDOWN_DELAY_MS', 'x'],
    ['LOG_LEVEL', 'loud'],
    ['LOG_LEVEL', 'INFO'],
    ['BENCH_ROUTES', 'yes']
  ]
  for (const [variable, value] of cases) {
    const error = refusal({ PADDLE_WEBHOOK_SECRET: 's', [variable]: value })
    t.equal(error.variable, variable, `${variable}=${value} is refused`)
    t.match(error.message, new RegExp(`^Invalid configuration: ${variable} `), `${variable}=${value}: the message names it`)
  }
  t.match(refusal({ PORT: 'abc' }).message, /PORT expected integer \(got "abc"\)/, 'a plain value is shown to help')
  t.equal(refusal({ LOG_LEVEL: 'loud' }).message,
    'Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")', 'a choice lists the choices')
  t.match(refusal({ BENCH_ROUTES: 'yes' }).message, /BENCH_ROUTES must be one of true, false, 1, 0 \(got "yes"\)/)

  const ttl = refusal({ LOCK_TTL_SECONDS: '40', LOCK_TTL_EXTENDED_SECONDS: '35' })
  t.equal(ttl.variable, 'LOCK_TTL_EXTENDED_SECONDS', 'the extended TTL below the normal one is refused')
  t.match(ttl.message, /LOCK_TTL_EXTENDED_SECONDS must be at least LOCK_TTL_SECONDS \(40\)/)
  t.match(refusal({ LOCK_TTL_SECONDS: '90' }).message, /LOCK_TTL_EXTENDED_SECONDS must be at least LOCK_TTL_SECONDS \(90\)/, 'also against the default extended TTL')
})

t.test('production refuses to start without a webhook secret', async (t) => {
  const missing = refusal({ NODE_ENV: 'production', PRICE_CATALOG: '/x.json' })
  t.equal(missing.variable, 'PADDLE_WEBHOOK_SECRET')
  t.match(missing.message, /PADDLE_WEBHOOK_SECRET is required when NODE_ENV=production/)
  t.equal(refusal({ NODE_ENV: 'production', PRICE_CATALOG: '/x.json', PADDLE_WEBHOOK_SECRET: ' , ' }).variable, 'PADDLE_WEBHOOK_SECRET', 'commas alone are no secret')
  t.same(loadConfig({ NODE_ENV: 'production', PRICE_CATALOG: '/x.json', PADDLE_WEBHOOK_SECRET: 's1' }).webhookSecrets, ['s1'])
  t.match(loadConfig({ NODE_ENV: 'development', DATA_DIR: scratch(t) }).developmentSecret, /dev-webhook-secret$/, 'any other NODE_ENV gets a development secret')
})

t.test('a secret\'s value is never echoed in a message', async (t) => {
  const database = refusal({ DATABASE_URL: 'mysql://admin:hunter2@db/x' })
  t.equal(database.variable, 'DATABASE_URL')
  t.notMatch(database.message, /hunter2|admin|mysql/)
  const redis = refusal({ REDIS_URL: 'http://:s3cret@cache' })
  t.equal(redis.variable, 'REDIS_URL')
  t.notMatch(redis.message, /s3cret|cache/)
  // The valid secrets of the same environment stay out of another variable's message too.
  t.notMatch(refusal({ PADDLE_WEBHOOK_SECRET: 'whsec_topsecret', ADMIN_API_TOKEN: 'admintoken42', LOG_LEVEL: 'x' }).message, /whsec_topsecret|admintoken42/)
})

t.test('durations have upper bounds that keep them valid for Redis and sane', async (t) => {
  for (const [variable, value] of [['LOCK_TTL_SECONDS', '3601'], ['LOCK_TTL_EXTENDED_SECONDS', '1e22'], ['WEBHOOK_TOLERANCE_SECONDS', '86401'], ['PROCESSED_TTL_SECONDS', '31536001'], ['RETRY_AFTER_SECONDS', '99999'], ['FALLBACK_BUCKET_SIZE', '100001']] as const) {
    t.throws(() => loadConfig({ PADDLE_WEBHOOK_SECRET: 's', [variable]: value }), new RegExp(`^Invalid configuration: ${variable} `), `${variable}=${value}`)
  }
  t.equal(loadConfig({ PADDLE_WEBHOOK_SECRET: 's', LOCK_TTL_SECONDS: '3600', LOCK_TTL_EXTENDED_SECONDS: '3600' }).lockTtlSeconds, 3600, 'the bound itself is allowed')
})
