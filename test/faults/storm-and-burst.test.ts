// Scenarios 1 and 2, on one cluster of three replicas: a storm of one event delivered 300 times at once,
// then a burst of 1,000 distinct events, 50 at a time.
import t from 'tap'
import { leaks, printTable, recordedIds, startCluster, type Summary } from './harness.js'
import { duplicateStorm, uniqueBurst } from './scenarios.js'

t.setTimeout(240_000)

t.test('three replicas, one database, the suite\'s own Redis', async (t) => {
  const cluster = await startCluster(t)
  const rows: Summary[] = []
  t.teardown(() => { printTable(rows) })

  t.test('duplicate storm: 300 deliveries of one event at once over three replicas, exactly one boost', async (t) => {
    const row = await duplicateStorm(t, cluster)
    rows.push({ ...row, scenario: `1. ${row.scenario}` })
  })

  t.test('unique burst: 1,000 distinct events, 50 at a time: 1,000 records, 1,000 effects, no 5xx', async (t) => {
    const row = await uniqueBurst(t, cluster)
    rows.push({ ...row, scenario: `2. ${row.scenario}` })
    t.equal((await recordedIds(cluster.database)).size, 1001, '1,000 rows (and the storm\'s one), nothing else')
  })

  t.test('no secret, admin token, database password or signature in any log line', async (t) => {
    t.ok(cluster.lines().length > 1300, `the replicas logged (${cluster.lines().length} lines)`)
    t.same(leaks(cluster), [])
  })
})
