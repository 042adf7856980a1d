import t from 'tap'
import type { Db } from '../../db/client.js'
import { canonicalJson, IDEMPOTENCY_FENCE, idempotencyJob, recordKey, requestHash } from '../../services/idempotency-job.js'

t.test('canonical JSON: keys sorted at every depth, undefined members dropped, arrays keep their order', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: 'x' } }), '{"a":{"c":"x","d":[2,1]},"b":1}')
  t.equal(canonicalJson({ a: 1, memberId: undefined }), canonicalJson({ a: 1 }))
  t.not(canonicalJson({ a: null }), canonicalJson({}), 'null is a value, unlike undefined')
  t.equal(canonicalJson('3'), '"3"')
  t.not(canonicalJson({ months: '3' }), canonicalJson({ months: 3 }))
})

t.test('request hash: the same body in any key order hashes alike; another body or another scope does not', async (t) => {
  const body = { communityId: 'c1', months: 3, reason: 'r' }
  const hash = requestHash('admin_boost', body)
  t.match(hash, /^[0-9a-f]{64}$/)
  t.equal(requestHash('admin_boost', { reason: 'r', months: 3, communityId: 'c1' }), hash)
  t.not(requestHash('admin_boost', { ...body, months: 4 }), hash)
  t.not(requestHash('badge_purchase', body), hash)
})

t.test('record key: scoped, so one key on two routes makes two records', async (t) => {
  t.equal(recordKey('admin_boost', 'k1'), 'admin_boost:k1')
  t.not(recordKey('admin_boost', 'k1'), recordKey('badge_purchase', 'k1'))
})

t.test('the job: LVVER on the client key under its scope, fenced by the idempotency_keys primary key, never ignored', async (t) => {
  const effect = async () => ({ statusCode: 201, body: {} })
  const job = idempotencyJob({} as Db, { scope: 'badge_purchase', key: 'k1', hash: 'h', ttlMs: 60_000, effect })
  t.match(job, { scope: 'badge_purchase', id: 'k1', type: 'badge_purchase', ttlMs: 60_000, fenceConstraint: IDEMPOTENCY_FENCE })
  t.equal(IDEMPOTENCY_FENCE, 'idempotency_keys_pkey')
  t.same(job.validate(), { ok: true }, 'the route schema validated the body before the lock')
  await t.rejects(job.recordIgnored('any'), /never ignored/)
})
