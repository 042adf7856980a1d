// The webhook's integration tests again, each app reaching Postgres through a PgBouncer of its own in
// transaction pooling mode (DATABASE_POOL_MODE=transaction, test/helpers/pgbouncer.ts): every assertion
// that holds on a direct connection must hold behind the pooler most deployments put in front of Postgres.
import t from 'tap'
import { pgBouncerLogins } from '../helpers/pgbouncer.js'

t.setTimeout(240_000)
process.env.TEST_POOLER = 'pgbouncer'
await import('./smoke.test.js')
await import('./lvver-steps.test.js')
await import('./lvver-duplicates.test.js')
await import('./lvver-order.test.js')
await import('./lvver-expiry.test.js')
await import('./event-handlers.test.js')

t.test('the tests above reached Postgres through PgBouncer', async (t) => {
  const logins = pgBouncerLogins()
  t.ok(logins.length > 0, `PgBouncers started (${logins.length})`)
  t.same(logins.filter((n) => n === 0), [], 'each one served clients')
})
