import t from 'tap'
import { ConfigError, EnvSchema, loadConfig } from '../../config.js'

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

t.test('defaults as documented', async (t) => {
  const config = loadConfig({})
  t.match(config, {
    port: 3000,
    host: '0.0.0.0',
    databaseUrl: undefined,
    dataDir: './.data',
    redisUrl: undefined,
    redisKeyPrefix: '',
    redisCommandTimeoutMs: 500,
    adminTokens: [],
    webhookToleranceSeconds: 300,
    lockTtlSeconds: 30,
    lockTtlExtendedSeconds: 60,
    fallbackBucketSize: 10,
    fallbackRefillPerSecond: 10,
    retryAfterSeconds: 30,
    processedTtlSeconds: 345600,
    bodyLimitBytes: 262144,
    databasePoolSize: 20,
    shutdownGraceMs: 25000,
    shutdownDelayMs: 0,
    logLevel: 'info',
    production: false,
    benchRoutes: false,
    webhookSecretGenerated: true
  })
  t.match(config.webhookSecrets[0], /^pdl_ntfset_dev_[0-9a-f]{32}$/, 'a development secret outside production')
  t.not(loadConfig({}).webhookSecrets[0], config.webhookSecrets[0], 'a new one per load, never a constant')
  t.equal(loadConfig({ PORT: '', LOG_LEVEL: '   ' }).port, 3000, 'an empty PORT is the default')
  t.equal(loadConfig({ PORT: '', LOG_LEVEL: '   ' }).logLevel, 'info', 'a blank LOG_LEVEL is the default')
})

t.test('every variable is read', async (t) => {
  const env: Record<string, string> = {
    PORT: '8080',
    HOST: '127.0.0.1',
    DATABASE_URL: 'postgresql://u:p@db:5432/billing',
    DATA_DIR: '/var/lib/bw',
    REDIS_URL: 'rediss://cache:6380',
    REDIS_KEY_PREFIX: 'bw:',
    REDIS_COMMAND_TIMEOUT_MS: '250',
    PADDLE_WEBHOOK_SECRET: ' new , old ,',
    ADMIN_API_TOKEN: 'a, b',
    WEBHOOK_TOLERANCE_SECONDS: '  60 ',
    LOCK_TTL_SECONDS: '20',
    LOCK_TTL_EXTENDED_SECONDS: '40',
    FALLBACK_BUCKET_SIZE: '5',
    FALLBACK_REFILL_PER_SECOND: '2.5',
    RETRY_AFTER_SECONDS: '15',
    PROCESSED_TTL_SECONDS: '86400',
    BODY_LIMIT_BYTES: '1024',
    DATABASE_POOL_SIZE: '7',
    SHUTDOWN_GRACE_MS: '5000',
    SHUTDOWN_DELAY_MS: '1500',
    LOG_LEVEL: 'debug',
    NODE_ENV: 'production',
    BENCH_ROUTES: '1'
  }
  t.same(Object.keys(env).sort(), Object.keys(EnvSchema.properties).sort(), 'this test sets every variable the schema knows')
  t.same(loadConfig(env), {
    port: 8080,
    host: '127.0.0.1',
    databaseUrl: 'postgresql://u:p@db:5432/billing',
    dataDir: '/var/lib/bw',
    redisUrl: 'rediss://cache:6380',
    redisKeyPrefix: 'bw:',
    redisCommandTimeoutMs: 250,
    webhookSecrets: ['new', 'old'],
    webhookSecretGenerated: false,
    adminTokens: ['a', 'b'],
    webhookToleranceSeconds: 60,
    lockTtlSeconds: 20,
    lockTtlExtendedSeconds: 40,
    fallbackBucketSize: 5,
    fallbackRefillPerSecond: 2.5,
    retryAfterSeconds: 15,
    processedTtlSeconds: 86400,
    bodyLimitBytes: 1024,
    databasePoolSize: 7,
    shutdownGraceMs: 5000,
    shutdownDelayMs: 1500,
    logLevel: 'debug',
    production: true,
    benchRoutes: true
  })
  t.equal(loadConfig({ LOCK_TTL_SECONDS: '45' }).lockTtlExtendedSeconds, 60, 'LOCK_TTL_SECONDS up to the extended default is fine')
  t.equal(loadConfig({ LOCK_TTL_SECONDS: '60', LOCK_TTL_EXTENDED_SECONDS: '60' }).lockTtlExtendedSeconds, 60, 'equal TTLs are fine')
  t.equal(loadConfig({ DATABASE_URL: 'postgres://db/x' }).databaseUrl, 'postgres://db/x', 'postgres:// as well as postgresql://')
  t.equal(loadConfig({ REDIS_URL: 'redis://cache:6379/2' }).redisUrl, 'redis://cache:6379/2', 'redis:// as well as rediss://')
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
    const error = refusal({ [variable]: value })
    t.equal(error.variable, variable, `${variable}=${value} is refused`)
    t.match(error.message, new RegExp(`^Invalid configuration: ${variable} `), `${variable}=${value}: the message names it`)
  }
  t.match(refusal({ PORT: 'abc' }).message, /PORT expected integer \(got "abc"\)/, 'a plain value is shown to help')
  t.equal(refusal({ LOG_LEVEL: 'loud' }).message,
    'Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")', 'a choice lists the choices')
  t.match(refusal({ BENCH_ROUTES: 'yes' }).message, /BENCH_ROUTES must be one of 0, 1 \(got "yes"\)/)

  const ttl = refusal({ LOCK_TTL_SECONDS: '40', LOCK_TTL_EXTENDED_SECONDS: '35' })
  t.equal(ttl.variable, 'LOCK_TTL_EXTENDED_SECONDS', 'the extended TTL below the normal one is refused')
  t.match(ttl.message, /LOCK_TTL_EXTENDED_SECONDS must be at least LOCK_TTL_SECONDS \(40\)/)
  t.match(refusal({ LOCK_TTL_SECONDS: '90' }).message, /LOCK_TTL_EXTENDED_SECONDS must be at least LOCK_TTL_SECONDS \(90\)/, 'also against the default extended TTL')
})

t.test('production refuses to start without a webhook secret', async (t) => {
  const missing = refusal({ NODE_ENV: 'production' })
  t.equal(missing.variable, 'PADDLE_WEBHOOK_SECRET')
  t.match(missing.message, /PADDLE_WEBHOOK_SECRET is required when NODE_ENV=production/)
  t.equal(refusal({ NODE_ENV: 'production', PADDLE_WEBHOOK_SECRET: ' , ' }).variable, 'PADDLE_WEBHOOK_SECRET', 'commas alone are no secret')
  t.same(loadConfig({ NODE_ENV: 'production', PADDLE_WEBHOOK_SECRET: 's1' }).webhookSecrets, ['s1'])
  t.equal(loadConfig({ NODE_ENV: 'development' }).webhookSecretGenerated, true, 'any other NODE_ENV gets a development secret')
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
    t.throws(() => loadConfig({ [variable]: value }), new RegExp(`^Invalid configuration: ${variable} `), `${variable}=${value}`)
  }
  t.equal(loadConfig({ LOCK_TTL_SECONDS: '3600', LOCK_TTL_EXTENDED_SECONDS: '3600' }).lockTtlSeconds, 3600, 'the bound itself is allowed')
})
