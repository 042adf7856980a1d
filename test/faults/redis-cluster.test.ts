// A Redis Cluster of three primaries, each with a replica, created by this file with redis-cli --cluster create.
// The Lua scripts and hash-tagged keys work unchanged on it; three service processes run the storm and the
// burst on it exactly once; a forced failover and a killed primary each close the lock routes, which reopen
// by themselves once the cluster has a master for every slot again, with every event applied exactly once.
import t from 'tap'
import { buildTestApp, waitForRedis } from '../helpers/app.js'
import { markerKeyOf } from '../helpers/lvver.js'
import { boostPurchaseEvent, deliver } from '../helpers/paddle.js'
import { startOwnCluster, waitFor, type OwnCluster } from '../helpers/redis-topologies.js'
import { keySlot } from '../../services/redis-client.js'
import { leaks, printTable, startCluster, type Summary } from './harness.js'
import { burstThroughFault, formatOutage, type Outage } from './outage.js'
import { duplicateStorm, uniqueBurst } from './scenarios.js'

t.setTimeout(300_000)

/** Cluster node keys ("host:port") of the masters that own each slot, from a node's CLUSTER SLOTS. */
async function slotOwners (cluster: OwnCluster): Promise<Map<number, number>> {
  const [node] = await cluster.masters()
  const ranges = await node!.client.call('CLUSTER', 'SLOTS') as Array<[number, number, [string, number]]>
  const owners = new Map<number, number>()
  for (const [start, end, [, port]] of ranges) for (let slot = start; slot <= end; slot++) owners.set(slot, port)
  return owners
}

t.test('a Redis Cluster: three primaries, three replicas', async (t) => {
  const redis = await startOwnCluster(t)
  // Started before any subtest: compiling the service blocks this process, and an app built meanwhile times out.
  const service = await startCluster(t, { REDIS_URL: '', REDIS_CLUSTER_NODES: redis.seeds })
  const rows: Summary[] = []
  const outages: Outage[] = []
  let replacement: OwnCluster['nodes'][number] | undefined
  t.teardown(() => {
    printTable(rows)
    process.stderr.write(outages.map((o) => `${formatOutage(o)}\n`).join(''))
  })

  t.test('in process: scripts and hash-tagged keys work unchanged; a heartbeat reaches every master', async (t) => {
    const { app, config } = await buildTestApp(t, { redisUrl: null, config: { redisClusterNodes: redis.seeds.split(',') } })
    await waitForRedis(app, true)
    t.equal(app.redisHealth?.topology, 'cluster')
    const security = await app.inject({ url: '/health/security' })
    t.match([security.statusCode, security.json()], [200, { status: 'ok', checks: { lockStore: 'redis', redis: 'ready', topology: 'cluster' } }])

    const events = Array.from({ length: 20 }, () => boostPurchaseEvent())
    t.same((await Promise.all(events.map((e) => deliver(app, e)))).map((a) => a.json().status), events.map(() => 'processed'))
    t.same((await Promise.all(events.map((e) => deliver(app, e)))).map((a) => a.json().status), events.map(() => 'duplicate'),
      'the markers answer: the acquire script read its marker in the same slot as its lock')
    const owners = await slotOwners(redis)
    const markers = events.map((e) => markerKeyOf(config, e.event_id as string))
    t.equal(new Set(markers.map((key) => owners.get(keySlot(key)))).size, 3, 'the events\' keys spread over the three masters')
    t.same((await redis.keys(`${config.redisKeyPrefix}processed:*`)).sort(), [...markers].sort(), 'every marker is where its slot says')
    t.same(await redis.keys(`${config.redisKeyPrefix}lock:*`), [], 'no lease left')

    const heartbeats = await redis.keys(`${config.redisKeyPrefix}heartbeat:*`)
    t.same(new Set(heartbeats.map((key) => owners.get(keySlot(key)))), new Set((await redis.masters()).map((m) => m.port)),
      'one heartbeat key on each master')
  })

  t.test('REDIS_URL pointed at one node of the cluster: MOVED closes the guard instead of spending the token bucket', async (t) => {
    const owners = await slotOwners(redis)
    // The prefix has no hash tag, so the heartbeat's slot is its tag's; a master that does not own it.
    const foreign = (await redis.masters()).find((m) => m.port !== owners.get(keySlot('heartbeat:{0}')))!
    const misdirected = await buildTestApp(t, { redisUrl: `redis://127.0.0.1:${foreign.port}`, waitForRedis: false })
    await waitFor('the health check to name the cause', async () => misdirected.app.redisHealth?.state().reason === 'cluster' ? true : undefined, 10_000)
    const answers = await Promise.all(Array.from({ length: 40 }, () => deliver(misdirected.app, boostPurchaseEvent())))
    t.same(new Set(answers.map((a) => a.statusCode)), new Set([503]), 'all 40 refused with 503, none processed without a lock')
    t.match((await misdirected.app.inject({ url: '/health/security' })).json(), { status: 'degraded', checks: { reason: 'cluster' } })
    t.ok(misdirected.logs.some((line) => line.includes('redis unavailable') && line.includes('MOVED')), 'the log line shows the MOVED reply')
  })

  t.test('three service processes: the duplicate storm, exactly once', async (t) => {
    rows.push(await duplicateStorm(t, service, 300, 'community_cluster_storm'))
  })

  t.test('three service processes: the unique burst, exactly once', async (t) => {
    rows.push(await uniqueBurst(t, service, 1000, 50, 'community_cluster_burst'))
  })

  t.test('CLUSTER FAILOVER FORCE on a replica mid-burst: fail closed, recover, exactly once', async (t) => {
    const { summary, outage } = await burstThroughFault(t, service, {
      name: 'cluster: CLUSTER FAILOVER FORCE on a replica mid-burst',
      community: 'community_cluster_failover',
      async fault () {
        const [master] = await redis.masters()
        const replica = await redis.replicaOf(master!)
        await replica.client.call('CLUSTER', 'FAILOVER', 'FORCE')
        await waitFor('the replica to take over', async () => (await redis.masters()).includes(replica) ? true : undefined)
      },
      heal: () => redis.serving()
    })
    rows.push(summary)
    outages.push(outage)
    await redis.settled()
  })

  t.test('a primary killed mid-burst: fail closed, recover once its replica is promoted, exactly once', async (t) => {
    const { summary, outage } = await burstThroughFault(t, service, {
      name: 'cluster: a primary killed mid-burst',
      community: 'community_cluster_kill',
      async fault () {
        const [master] = await redis.masters()
        replacement = await redis.replicaOf(master!)
        await master!.stop()
      },
      async heal () {
        await waitFor('the replica to be promoted', async () => (await redis.masters()).includes(replacement!) ? true : undefined)
        await redis.serving()
      }
    })
    rows.push(summary)
    outages.push(outage)
  })

  t.test('no secret, admin token, database password or signature in any log line', async (t) => {
    t.same(leaks(service), [])
  })
})
