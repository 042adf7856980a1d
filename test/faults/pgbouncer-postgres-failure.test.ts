// Scenario 4 (postgres-failure.test.ts) with the three replicas behind one PgBouncer in transaction pooling
// mode: Postgres cuts the pooler's server connections and refuses new ones; the replicas see PgBouncer's
// errors instead of Postgres's, and the same guarantees must hold.
import t from 'tap'
import { pgBouncerLogins } from '../helpers/pgbouncer.js'

process.env.TEST_POOLER = 'pgbouncer'
await import('./postgres-failure.test.js')

t.test('the tests above reached Postgres through PgBouncer', async (t) => {
  const logins = pgBouncerLogins()
  t.ok(logins.length > 0, `PgBouncers started (${logins.length})`)
  t.same(logins.filter((n) => n === 0), [], 'each one served clients')
})
