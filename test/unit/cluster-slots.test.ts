import t from 'tap'
import { CLUSTER_SLOTS, heartbeatKeys, keySlot, slotLayout } from '../../services/redis-client.js'

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
