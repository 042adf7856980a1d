// Where the tests find the shared services; override for a laptop whose ports differ.
export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const SHARED_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const TEST_SECRET = 'pdl_ntfset_test_secret'
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789'
