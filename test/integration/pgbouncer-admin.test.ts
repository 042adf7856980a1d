// The admin and member routes' integration tests again, through a PgBouncer in transaction pooling mode
// (see pgbouncer-webhook.test.ts): their transactions, idempotency keys and replays behind the pooler.
import t from 'tap'
import { pgBouncerLogins } from '../helpers/pgbouncer.js'

t.setTimeout(240_000)
process.env.TEST_POOLER = 'pgbouncer'
await import('./admin-boosts.test.js')
await import('./badges.test.js')
await import('./idempotency.test.js')

t.test('the tests above reached Postgres through PgBouncer', async (t) => {
  const logins = pgBouncerLogins()
  t.ok(logins.length > 0, `PgBouncers started (${logins.length})`)
  t.same(logins.filter((n) => n === 0), [], 'each one served clients')
})
