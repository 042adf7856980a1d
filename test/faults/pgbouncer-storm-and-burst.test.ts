// Scenarios 1 and 2 (storm-and-burst.test.ts) with the three replicas behind one PgBouncer in transaction
// pooling mode (DATABASE_POOL_MODE=transaction): exactly once must not depend on how connections are pooled.
import t from 'tap'
import { pgBouncerLogins } from '../helpers/pgbouncer.js'

process.env.TEST_POOLER = 'pgbouncer'
await import('./storm-and-burst.test.js')

t.test('the tests above reached Postgres through PgBouncer', async (t) => {
  const logins = pgBouncerLogins()
  t.ok(logins.length > 0, `PgBouncers started (${logins.length})`)
  t.same(logins.filter((n) => n === 0), [], 'each one served clients')
})
