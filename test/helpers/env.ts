// Where the tests find the shared services; override for a laptop whose ports differ.
// The defaults are what `docker compose up -d postgres redis` serves (test/unit/deploy-files.test.ts checks).
export const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres'
export const DEFAULT_TEST_REDIS_URL = 'redis://127.0.0.1:6379'
export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? DEFAULT_TEST_DATABASE_URL
export const SHARED_REDIS_URL = process.env.TEST_REDIS_URL ?? DEFAULT_TEST_REDIS_URL
export const TEST_SECRET = 'pdl_ntfset_test_secret'
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789'
/**
 * `pgbouncer`: every test app and fault-suite replica reaches Postgres through a PgBouncer of its own in
 * transaction mode (test/helpers/pgbouncer.ts), with DATABASE_POOL_MODE=transaction. Read when an app
 * starts, so a test file may set it before importing another one.
 */
export const viaPgBouncer = (): boolean => process.env.TEST_POOLER === 'pgbouncer'
