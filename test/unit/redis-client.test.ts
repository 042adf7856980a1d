import t from 'tap'
import type { PeerCertificate } from 'node:tls'
import { Cluster, Redis } from 'ioredis'
import { testConfig } from '../helpers/app.js'
import {
  CLUSTER_SLOTS, clusterServerIdentity, createRedisConnection, heartbeatKeys, keySlot, reconnectDelayMs, slotLayout
} from '../../services/redis-client.js'

/** A slot table as ioredis keeps it: each slot's node keys, master first. */
function table (ranges: Array<[number, number, string]>): string[][] {
  const slots: string[][] = []
  for (const [start, end, master] of ranges) for (let slot = start; slot <= end; slot++) slots[slot] = [master, `${master}-replica`]
  return slots
}

t.test('keySlot: Redis Cluster\'s CRC16 and hash tags', async (t) => {
  // Values from CLUSTER KEYSLOT on Redis 7.
  t.equal(keySlot('foo'), 12182)
  t.equal(keySlot('bar'), 5061)
  t.equal(keySlot('123456789'), 12739, 'the CRC16/XMODEM check value 0x31C3, modulo 16384')
  t.equal(keySlot('{user1000}.following'), keySlot('{user1000}.followers'), 'one tag, one slot')
  t.equal(keySlot('foo{}{bar}'), keySlot('foo{}{bar}'.slice(0)), 'an empty tag hashes the whole key')
  t.not(keySlot('foo{}{bar}'), keySlot('bar'))
  t.equal(keySlot('bw:lock:{webhook:evt_1}'), keySlot('bw:processed:{webhook:evt_1}'), 'a lock and its marker share a slot, prefix and all')
  t.equal(keySlot('{a}x'), keySlot('a'))
})

t.test('slotLayout: the ranges and their masters, or undefined when a slot has none', async (t) => {
  const slots = table([[0, 5460, 'a:1'], [5461, 10922, 'b:2'], [10923, 16383, 'c:3']])
  t.equal(slotLayout(slots), '0-5460=a:1,5461-10922=b:2,10923-16383=c:3')
  const moved = table([[0, 5460, 'a:1'], [5461, 10922, 'd:4'], [10923, 16383, 'c:3']])
  t.not(slotLayout(moved), slotLayout(slots), 'a failover changes it')
  const hole = table([[0, 5460, 'a:1'], [10923, 16383, 'c:3']])
  t.equal(slotLayout(hole), undefined)
  t.equal(slotLayout([]), undefined)
})

t.test('heartbeatKeys: one key per master, landing on that master, the same on every replica', async (t) => {
  const slots = table([[0, 5460, 'a:1'], [5461, 10922, 'b:2'], [10923, 16383, 'c:3']])
  for (const prefix of ['', 'bw:', 'tenant-7:']) {
    const keys = heartbeatKeys(slots, prefix)
    t.equal(keys.length, 3, `${prefix || 'no prefix'}: three keys`)
    t.same(new Set(keys.map((key) => slots[keySlot(prefix + key)]?.[0])), new Set(['a:1', 'b:2', 'c:3']), 'one on each master')
    t.same(heartbeatKeys(slots, prefix), keys, 'deterministic')
  }
  const small = table([[0, 16382, 'a:1'], [16383, 16383, 'b:2']])
  t.equal(heartbeatKeys(small, '').length, 2, 'even a master that owns one slot')
  const tagged = heartbeatKeys(slots, '{bw}:')
  t.equal(tagged.length, 1, 'a prefix with its own hash tag puts every key on one master, so one heartbeat')
  t.equal(slots[keySlot(`{bw}:${tagged[0]}`)]?.[0], slots[keySlot('{bw}:lock:{webhook:x}')]?.[0], 'the master the locks use')
  t.equal(CLUSTER_SLOTS, 16384)
})

t.test('createRedisConnection: the client and probe of the one form configured', async (t) => {
  t.equal(createRedisConnection(testConfig()), undefined, 'no form: no client (the in-process lock store)')

  const single = createRedisConnection(testConfig({ redisUrl: 'rediss://:pw@cache.example.net:6380' }))!
  t.teardown(() => { single.client.disconnect() })
  t.ok(single.client instanceof Redis)
  t.equal(single.probe.topology, 'standalone')
  t.equal(single.client.status, 'wait', 'nothing connects before the plugin asks')
  t.match((single.client as Redis).options, { host: 'cache.example.net', port: 6380, password: 'pw', tls: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 })

  const sentinel = createRedisConnection(testConfig({
    redisSentinels: ['s1:26379', 's2:26380'], redisSentinelMaster: 'billing', redisPassword: 'pw', redisSentinelPassword: 'spw', redisTls: true
  }))!
  t.teardown(() => { sentinel.client.disconnect() })
  t.equal(sentinel.probe.topology, 'sentinel')
  t.match((sentinel.client as Redis).options, {
    sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }],
    name: 'billing',
    password: 'pw',
    sentinelPassword: 'spw',
    tls: {},
    enableTLSForSentinelMode: true,
    sentinelTLS: {}
  })

  const cluster = createRedisConnection(testConfig({ redisClusterNodes: ['10.0.0.1:6379', 'cfg.example.net:6379'], redisPassword: 'pw', redisTls: true }))!
  t.teardown(() => { cluster.client.disconnect() })
  t.ok(cluster.client instanceof Cluster)
  t.equal(cluster.probe.topology, 'cluster')
  const options = (cluster.client as Cluster).options
  t.match(options, { scaleReads: 'master', enableOfflineQueue: false, redisOptions: { password: 'pw', maxRetriesPerRequest: 0 } })
  t.type(options.redisOptions?.tls?.checkServerIdentity, 'function', 'TLS checks node identities itself')
  t.type(options.dnsLookup, 'function', 'TLS keeps host names rather than resolving them')
})

t.test('clusterServerIdentity: a node announced by IP is checked against the seeds\' host name', async (t) => {
  const cert = (names: string) => ({ subject: { CN: 'cache' }, subjectaltname: names }) as unknown as PeerCertificate
  const check = clusterServerIdentity('cache.example.net')
  t.equal(check('node-1.cache.example.net', cert('DNS:*.cache.example.net')), undefined, 'a node by name, its own name')
  t.type(check('evil.example.org', cert('DNS:*.cache.example.net')), Error, 'another name is refused')
  t.equal(check('10.0.0.7', cert('DNS:cache.example.net')), undefined, 'a node by IP, the configured name')
  t.equal(check('10.0.0.7', cert('IP Address:10.0.0.7')), undefined, 'or its own IP')
  t.type(check('10.0.0.7', cert('DNS:other.example.org')), Error, 'never a certificate for something else')
  t.type(clusterServerIdentity(undefined)('10.0.0.7', cert('DNS:cache.example.net')), Error, 'seeds given by IP: no name to fall back to')
})

t.test('reconnectDelayMs: quick at first, then once a second', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 50].map(reconnectDelayMs), [100, 200, 400, 800, 1000, 1000, 1000])
})
