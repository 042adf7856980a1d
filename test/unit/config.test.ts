import t from 'tap'
import { ConfigError, loadConfig } from '../../config.js'

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
})

t.test('values are read, trimmed and split', async (t) => {
  const config = loadConfig({
    PORT: '8080',
    HOST: '127.0.0.1',
    DATABASE_URL: 'postgresql://u:p@db:5432/billing',
    REDIS_URL: 'rediss://cache:6380',
    PADDLE_WEBHOOK_SECRET: ' new , old ,',
    ADMIN_API_TOKEN: 'a,b',
    FALLBACK_REFILL_PER_SECOND: '2.5',
    LOG_LEVEL: 'debug',
    NODE_ENV: 'production',
    BENCH_ROUTES: '1',
    WEBHOOK_TOLERANCE_SECONDS: '  60 ',
    LOCK_TTL_SECONDS: ''
  })
  t.match(config, { port: 8080, host: '127.0.0.1', webhookSecrets: ['new', 'old'], adminTokens: ['a', 'b'], fallbackRefillPerSecond: 2.5, logLevel: 'debug', production: true, benchRoutes: true, webhookToleranceSeconds: 60, lockTtlSeconds: 30, webhookSecretGenerated: false })
})

t.test('each invalid value stops the start with a message naming the variable', async (t) => {
  const cases: Record<string, string> = {
    PORT: 'abc',
    DATABASE_URL: 'mysql://x',
    REDIS_URL: 'http://x',
    REDIS_COMMAND_TIMEOUT_MS: '1',
    WEBHOOK_TOLERANCE_SECONDS: '-5',
    LOCK_TTL_SECONDS: '0',
    LOCK_TTL_EXTENDED_SECONDS: '1.5',
    FALLBACK_BUCKET_SIZE: 'ten',
    FALLBACK_REFILL_PER_SECOND: '-1',
    RETRY_AFTER_SECONDS: '0',
    PROCESSED_TTL_SECONDS: 'forever',
    BODY_LIMIT_BYTES: '1',
    DATABASE_POOL_SIZE: '1000',
    SHUTDOWN_GRACE_MS: '-1',
    SHUTDOWN_DELAY_MS: 'x',
    LOG_LEVEL: 'loud',
    BENCH_ROUTES: 'yes'
  }
  for (const [variable, value] of Object.entries(cases)) {
    let error: unknown
    try {
      loadConfig({ [variable]: value })
    } catch (err) {
      error = err
    }
    t.ok(error instanceof ConfigError, `${variable}=${value} is refused`)
    t.equal((error as ConfigError | undefined)?.variable, variable)
    t.match((error as Error | undefined)?.message, new RegExp(`^Invalid configuration: ${variable} `))
  }
  t.throws(() => loadConfig({ PORT: '70000' }), /PORT/)
  t.throws(() => loadConfig({ LOCK_TTL_SECONDS: '90' }), /LOCK_TTL_EXTENDED_SECONDS must be at least LOCK_TTL_SECONDS/)
})

t.test('production refuses to start without a webhook secret, and secrets are never echoed', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), /PADDLE_WEBHOOK_SECRET is required/)
  try {
    loadConfig({ DATABASE_URL: 'mysql://admin:hunter2@db/x' })
    t.fail('should have thrown')
  } catch (err) {
    t.match((err as Error).message, /DATABASE_URL/)
    t.notMatch((err as Error).message, /hunter2/)
  }
  try {
    loadConfig({ REDIS_URL: 'http://:s3cret@cache' })
    t.fail('should have thrown')
  } catch (err) {
    t.notMatch((err as Error).message, /s3cret/)
  }
})
