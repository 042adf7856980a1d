// The inbox's failure paths again, through a PgBouncer in transaction pooling mode (see
// pgbouncer-webhook.test.ts): Postgres refusing connections, statements failing, the record's conflict
// clause answering duplicates, and failed events kept and retried, with the pooler in between.
import t from 'tap'
import { pgBouncerLogins } from '../helpers/pgbouncer.js'

t.setTimeout(240_000)
process.env.TEST_POOLER = 'pgbouncer'
await import('./lvver-lock.test.js')
await import('./inbox-fence.test.js')
await import('./inbox-failure.test.js')

t.test('the tests above reached Postgres through PgBouncer', async (t) => {
  const logins = pgBouncerLogins()
  t.ok(logins.length > 0, `PgBouncers started (${logins.length})`)
  t.same(logins.filter((n) => n === 0), [], 'each one served clients')
})
