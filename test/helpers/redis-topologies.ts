// A private Redis Cluster (redis-cli --cluster create) and a private Sentinel set, started from the
// redis-server binary on free ports, for the tests that fail them over. Never the shared Redis.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { freePort, startOwnRedis, type OwnRedis } from './redis-server.js'

interface Teardown { teardown(fn: () => unknown): void }

const run = promisify(execFile)

function scratch (t: Teardown, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `bw-${name}-`))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/** Polls `check` until it returns a value other than undefined. */
export async function waitFor<T> (what: string, check: () => Promise<T | undefined>, ms = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(everyMs)
  }
}

export interface OwnCluster {
  nodes: OwnRedis[]
  /** REDIS_CLUSTER_NODES for the service: every node as a seed. */
  seeds: string
  /** The nodes that are masters now, and each master's replicas. */
  masters(): Promise<OwnRedis[]>
  replicaOf(master: OwnRedis): Promise<OwnRedis>
  /** Resolves once every live node says cluster_state:ok, with a master for each share of the slots. */
  serving(ms?: number): Promise<void>
  /** serving(), and every replica in sync with its master (ready for the next failover). */
  settled(ms?: number): Promise<void>
  /** Every key matching `pattern`, over all masters. */
  keys(pattern: string): Promise<string[]>
}

/** `primaries` masters with one replica each; the cluster bus on ports of its own (cluster-port). */
export async function startOwnCluster (t: Teardown, primaries = 3, nodeTimeoutMs = 1000): Promise<OwnCluster> {
  const dir = scratch(t, 'cluster')
  const nodes: OwnRedis[] = []
  for (let i = 0; i < primaries * 2; i++) {
    const port = await freePort()
    nodes.push(await startOwnRedis(t, {
      port,
      args: [
        '--cluster-enabled', 'yes',
        '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', String(nodeTimeoutMs),
        '--cluster-port', String(await freePort()),
        '--dir', dir
      ]
    }))
  }
  await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'])

  const live = () => nodes.filter((n) => n.running())
  const role = async (node: OwnRedis) => (await node.client.call('ROLE') as unknown[])[0] as string
  const cluster: OwnCluster = {
    nodes,
    seeds: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    async masters () {
      const roles = await Promise.all(live().map(async (node) => [node, await role(node)] as const))
      return roles.filter(([, r]) => r === 'master').map(([node]) => node)
    },
    async replicaOf (master) {
      const replicas = await master.client.call('ROLE') as [string, number, Array<[string, string, string]>]
      const port = Number(replicas[2][0]?.[1])
      const replica = nodes.find((n) => n.port === port)
      if (replica === undefined) throw new Error(`no replica of ${master.port}`)
      return replica
    },
    async serving (ms = 30_000) {
      await waitFor('the cluster to serve every slot', async () => {
        for (const node of live()) {
          if (!(await node.client.call('CLUSTER', 'INFO') as string).includes('cluster_state:ok')) return undefined
        }
        return (await cluster.masters()).length === primaries ? true : undefined
      }, ms)
    },
    async settled (ms = 30_000) {
      await cluster.serving(ms)
      await waitFor('the replicas to sync', async () => {
        for (const node of live()) {
          const replication = await node.client.info('replication')
          if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) return undefined
        }
        return true
      }, ms)
    },
    async keys (pattern) {
      const masters = await cluster.masters()
      return (await Promise.all(masters.map((m) => m.client.keys(pattern)))).flat()
    }
  }
  await cluster.settled()
  return cluster
}

export interface OwnSentinels {
  primary: OwnRedis
  replica: OwnRedis
  sentinels: OwnRedis[]
  name: string
  /** REDIS_SENTINELS for the service. */
  addresses: string
  /** The port of the master the sentinels name now. */
  masterPort(): Promise<number>
}

/** One primary, one replica, three sentinels (quorum 2) that fail over one second after the primary stops answering. */
export async function startOwnSentinels (t: Teardown, name = 'billing'): Promise<OwnSentinels> {
  const dir = scratch(t, 'sentinel')
  const primary = await startOwnRedis(t)
  const replica = await startOwnRedis(t, { args: ['--replicaof', '127.0.0.1', String(primary.port)] })
  const sentinels: OwnRedis[] = []
  for (let i = 0; i < 3; i++) {
    const port = await freePort()
    const file = join(dir, `sentinel-${port}.conf`)
    writeFileSync(file, [
      `sentinel monitor ${name} 127.0.0.1 ${primary.port} 2`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      `sentinel parallel-syncs ${name} 1`,
      ''
    ].join('\n'))
    sentinels.push(await startOwnRedis(t, { port, configFile: file, args: ['--sentinel', '--dir', dir] }))
  }
  const own: OwnSentinels = {
    primary,
    replica,
    sentinels,
    name,
    addresses: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
    async masterPort () {
      const answer = await sentinels[0]!.client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name) as [string, string]
      return Number(answer[1])
    }
  }
  // Ready once every sentinel knows the replica and the other sentinels, and the replica is in sync.
  await waitFor('the sentinels to see the replica and each other', async () => {
    for (const sentinel of sentinels) {
      const master = await sentinel.client.call('SENTINEL', 'MASTER', name) as string[]
      const field = (key: string) => Number(master[master.indexOf(key) + 1])
      if (field('num-slaves') < 1 || field('num-other-sentinels') < 2) return undefined
    }
    return (await replica.client.info('replication')).includes('master_link_status:up') ? true : undefined
  })
  return own
}
