// Redis behind Sentinel: one primary, one replica, three sentinels, started by this file. A failover Sentinel is
// asked for leaves the old primary taking writes until Sentinel demotes it, seconds later: the service must
// leave it at +switch-master. A killed primary leaves the service with no master until the sentinels promote the
// replica. Both close the lock routes, which reopen by themselves on the new master, and no event is applied
// twice or lost across either. (READONLY on a kept connection is redis-hung.test.ts's second scenario.)
import t from 'tap'
import { buildTestApp, waitForRedis } from '../helpers/app.js'
import { boostPurchaseEvent, deliver } from '../helpers/paddle.js'
import type { OwnRedis } from '../helpers/redis-server.js'
import { startOwnSentinels, waitFor } from '../helpers/redis-topologies.js'
import { leaks, printTable, startCluster, type Summary } from './harness.js'
import { burstThroughFault, formatOutage, type Outage } from './outage.js'

t.setTimeout(240_000)

const role = async (node: OwnRedis) => (await node.client.call('ROLE') as string[])[0]

t.test('Sentinel: one primary, one replica, three sentinels', async (t) => {
  const sentinel = await startOwnSentinels(t)
  const { primary, replica } = sentinel
  // One app in this process as well, to see the client follow the master with nothing restarted.
  const inProcess = await buildTestApp(t, {
    redisUrl: null,
    config: { redisSentinels: sentinel.addresses.split(','), redisSentinelMaster: sentinel.name }
  })
  await waitForRedis(inProcess.app, true)
  const service = await startCluster(t, { REDIS_URL: '', REDIS_SENTINELS: sentinel.addresses, REDIS_SENTINEL_MASTER: sentinel.name }, 2)
  const rows: Summary[] = []
  const outages: Outage[] = []
  t.teardown(() => {
    printTable(rows)
    process.stderr.write(outages.map((o) => `${formatOutage(o)}\n`).join(''))
  })

  t.test('the master the sentinels name serves the lock routes', async (t) => {
    t.equal(inProcess.app.redisHealth?.topology, 'sentinel')
    t.match((await inProcess.app.inject({ url: '/health/security' })).json(), { status: 'ok', checks: { topology: 'sentinel', redis: 'ready' } })
    const event = boostPurchaseEvent()
    t.equal((await deliver(inProcess.app, event)).json().status, 'processed')
    t.equal((await deliver(inProcess.app, event)).json().status, 'duplicate')
    t.ok(await primary.client.exists(`${inProcess.config.redisKeyPrefix}processed:{webhook:${event.event_id as string}}`), 'the marker is on the primary')
  })

  t.test('SENTINEL FAILOVER mid-burst: the service leaves the replaced master at +switch-master, before Sentinel demotes it; fail closed, follow, exactly once', async (t) => {
    const { summary, outage } = await burstThroughFault(t, service, {
      name: 'sentinel: SENTINEL FAILOVER mid-burst',
      community: 'community_sentinel_failover',
      // The fault is the switch: from then on the old primary still takes writes, but nobody new will use them.
      async fault () {
        await sentinel.sentinels[0]!.client.call('SENTINEL', 'FAILOVER', sentinel.name)
        return waitFor('the sentinels to name the replica', async () => await sentinel.masterPort() === replica.port ? Date.now() : undefined, 30_000, 5)
      },
      heal: async () => { await waitFor('the replica to take writes', async () => await role(replica) === 'master' ? true : undefined) }
    })
    rows.push(summary)
    outages.push(outage)
    t.ok(service.lines().some((line) => line.includes('redis unhealthy') && line.includes('"reason":"failover"')), 'the log names the reason: failover')
    // Sentinel demotes the old primary on its next look at it; wait until it is a replica in sync.
    await waitFor('the old primary to sync from the new one', async () =>
      (await primary.client.info('replication')).includes('master_link_status:up') ? true : undefined)
  })

  t.test('the primary killed mid-burst: fail closed; the sentinels promote the replica; the service follows by itself, exactly once', async (t) => {
    // After the first failover the two servers have swapped roles.
    const [master, other] = await sentinel.masterPort() === replica.port ? [replica, primary] : [primary, replica]
    const { summary, outage } = await burstThroughFault(t, service, {
      name: 'sentinel: the primary killed mid-burst',
      community: 'community_sentinel_kill',
      fault: () => master.stop(),
      async heal () {
        await waitFor('the sentinels to promote the replica', async () => await sentinel.masterPort() === other.port ? true : undefined)
        await waitFor('it to take writes', async () => await role(other) === 'master' ? true : undefined)
      }
    })
    rows.push(summary)
    outages.push(outage)
  })

  t.test('the in-process app followed both failovers with no restart', async (t) => {
    await waitForRedis(inProcess.app, true)
    const event = boostPurchaseEvent()
    t.equal((await deliver(inProcess.app, event)).json().status, 'processed')
    const master = [primary, replica].find((node) => node.running())!
    t.ok(await master.client.exists(`${inProcess.config.redisKeyPrefix}processed:{webhook:${event.event_id as string}}`), 'its marker is on the new master')
    t.same(leaks(service), [], 'no secret, token, password or signature in any log line')
  })
})
