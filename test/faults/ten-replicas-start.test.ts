// Ten service processes start at once on one empty database, behind one PgBouncer in transaction pooling
// mode with fewer server connections than replicas: every one turns ready, and the migrations apply once.
import t from 'tap'
import { MIGRATION_LOCK_ID } from '../../db/migrate.js'
import { freshDatabase } from '../helpers/database.js'
import { pgBouncer } from '../helpers/pgbouncer.js'
import { startServerProcess } from '../helpers/server-process.js'

t.setTimeout(240_000)

t.test('ten replicas, one empty database, one PgBouncer: all ready, each migration applied once', async (t) => {
  const database = await freshDatabase(t)
  const bouncer = await pgBouncer(t, { poolSize: 4 })
  const env = { DATABASE_URL: bouncer.url(database.url), DATABASE_POOL_MODE: 'transaction', DATABASE_POOL_SIZE: '2' }
  const replicas = await Promise.all(Array.from({ length: 10 }, () => startServerProcess(t, env, { waitReady: false })))
  await Promise.all(replicas.map((replica) => replica.ready(120_000)))
  t.pass('all ten answered /health/ready with 200')

  const logged = replicas.map((replica) => replica.lines.map((line) => {
    try { return JSON.parse(line) as { msg?: string, applied?: string[], waited?: boolean } } catch { return {} }
  }))
  const outcomes = logged.map((lines) => lines.find((line) => Array.isArray(line.applied)))
  const appliers = outcomes.filter((outcome) => (outcome?.applied?.length ?? 0) > 0)
  t.equal(appliers.length, 1, 'one replica applied the migrations')
  t.same(appliers[0]?.applied, ['0000_init', '0001_inbox_convergence'])
  t.equal(outcomes.filter((outcome) => outcome?.msg === 'migrations: up to date').length, 9, 'nine found them applied')
  const waiters = logged.filter((lines) => lines.some((line) => line.msg === 'migrations: another replica is migrating; waiting for its migration lock'))
  t.comment(`${waiters.length} replicas logged that they waited for the lock`)
  t.same(await database.query('select count(*)::int as n from drizzle.__drizzle_migrations'), [{ n: 2 }], 'recorded once each')
  // A bigint advisory key below 2^32 shows as objid.
  t.same(await database.query(`select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = ${MIGRATION_LOCK_ID}`),
    [{ n: 0 }], 'the migration lock is not left held')
  t.same(replicas.filter((replica) => replica.child.exitCode !== null).length, 0, 'none exited')
})
