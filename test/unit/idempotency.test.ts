// Idempotency-Key without a server: the key's fingerprint, the header's rules, and what Idempotency.run makes
// of each LVVER outcome, with the pipeline and the database replaced by recorders. (The real thing, on
// Postgres and Redis: test/integration/idempotency.test.ts.)
import t from 'tap'
import type { Database, Queryable, QueryResult } from '../../db/client.js'
import { statements, type Statement } from '../../db/statements.js'
import { isRefusal } from '../../services/errors.js'
import { Idempotency, canonicalJson, idempotencyKeyOf, recordKey, requestHash, type StoredAnswer } from '../../services/idempotency.js'
import type { LvverJob, LvverOutcome } from '../../services/lvver.js'

t.test('canonical JSON: keys sorted at every depth, undefined members dropped, arrays keep their order', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: 'x' } }), '{"a":{"c":"x","d":[2,1]},"b":1}')
  t.equal(canonicalJson({ a: 1, memberId: undefined }), canonicalJson({ a: 1 }))
  t.not(canonicalJson({ a: null }), canonicalJson({}), 'null is a value, unlike undefined')
  t.equal(canonicalJson('3'), '"3"')
  t.not(canonicalJson({ months: '3' }), canonicalJson({ months: 3 }))
  t.equal(canonicalJson({ ü: 1, '"': 2 }), '{"\\"":2,"ü":1}', 'keys are escaped as JSON')
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

t.test('the Idempotency-Key header: 1-255 printable ASCII characters without spaces, else a 400 that names the header', async (t) => {
  t.equal(idempotencyKeyOf('k'), 'k')
  t.equal(idempotencyKeyOf(`k${'x'.repeat(254)}`).length, 255)
  t.equal(idempotencyKeyOf('3f6c1a52-badge:gold/{x}~!'), '3f6c1a52-badge:gold/{x}~!', 'any visible ASCII')
  const refused: Array<[string, string | string[] | undefined, RegExp]> = [
    ['missing', undefined, /is required/],
    ['empty', '', /is required/],
    ['sent twice', ['a', 'b'], /printable ASCII/],
    ['256 characters', `k${'x'.repeat(255)}`, /1-255/],
    ['a space', 'has space', /without spaces/],
    ['a tab', 'tab\there', /printable/],
    ['non-ASCII', 'naïve', /printable ASCII/],
    ['a control character', 'k\u0000', /printable/]
  ]
  for (const [name, header, message] of refused) {
    let error: unknown
    try { idempotencyKeyOf(header) } catch (err) { error = err }
    t.ok(isRefusal(error), `${name}: a refusal`)
    t.match(error, { statusCode: 400, code: 'BW_ERR_BAD_REQUEST', message: /Idempotency-Key/ }, `${name}: 400 naming the header`)
    t.match((error as Error).message, message, name)
  }
})

interface Row { request_hash: string, status_code: number, response: Record<string, unknown> }

/** A database whose idempotency_keys is a Map, recording every statement by name. */
function fakeDatabase () {
  const keys = new Map<string, Row & { scope: string }>()
  const ran: string[] = []
  const run = async <R>(statement: Statement, values: Record<string, unknown>): Promise<QueryResult<R>> => {
    ran.push(statement.name)
    const key = String(values.key)
    if (statement === statements.idempotencyFind) {
      const row = keys.get(key)
      const rows = row !== undefined && row.status_code > 0 ? [row] : []
      return { rows: rows as R[], rowCount: rows.length }
    }
    if (statement === statements.idempotencyClaim) {
      if (keys.has(key)) return { rows: [], rowCount: 0 }
      keys.set(key, { scope: String(values.scope), request_hash: String(values.request_hash), status_code: 0, response: {} })
      return { rows: [{ key } as R], rowCount: 1 }
    }
    if (statement === statements.idempotencyAnswer) {
      const row = keys.get(key)
      if (row !== undefined) Object.assign(row, { status_code: values.status_code, response: JSON.parse(String(values.response)) })
      return { rows: [], rowCount: row === undefined ? 0 : 1 }
    }
    throw new Error(`unexpected statement ${statement.name}`)
  }
  const database = {
    run,
    async transaction<T> (work: (tx: Queryable) => Promise<T>): Promise<T> {
      ran.push('begin')
      const result = await work({ run })
      ran.push('commit')
      return result
    }
  } as unknown as Database
  return { database, keys, ran }
}

/** An Idempotency whose pipeline answers `outcome` (or runs the job's own steps when it is 'run'). */
function setup (outcome: LvverOutcome<unknown> | 'run') {
  const { database, keys, ran } = fakeDatabase()
  const jobs: Array<LvverJob<unknown, unknown>> = []
  const observed: Array<[string, string]> = []
  const idempotency = new Idempotency({
    database,
    lvver: async <P, R>(job: LvverJob<P, R>): Promise<LvverOutcome<R>> => {
      jobs.push(job as LvverJob<unknown, unknown>)
      if (outcome !== 'run') return outcome as LvverOutcome<R>
      const found = await job.findFinal?.()
      if (found !== undefined) return { kind: 'duplicate', via: 'postgres', result: found }
      const result = await job.execute(undefined as P)
      return result === undefined ? { kind: 'duplicate', via: 'fence' } : { kind: 'done', result }
    },
    observe: (scope, result) => { observed.push([scope, result]) }
  })
  return { idempotency, jobs, observed, keys, ran }
}

const created: StoredAnswer = { statusCode: 201, body: { id: 1 } }
const body = { communityId: 'c1', months: 1 }

async function refusalOf (promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise
  } catch (err) {
    return err as Record<string, unknown>
  }
  throw new Error('expected a refusal')
}

t.test('the job: LVVER on the client key under its scope, trusting the marker, with nothing left to validate', async (t) => {
  const { idempotency, jobs } = setup('run')
  await idempotency.run('badge_purchase', 'k1', body, async () => created)
  t.equal(jobs.length, 1)
  const job = jobs[0]!
  t.match(job, { scope: 'badge_purchase', id: 'k1', type: 'badge_purchase', trustMarker: true })
  t.equal(typeof job.findFinal, 'function', 'VERIFY (Postgres): a replay needs the stored answer')
  t.equal(job.validate, undefined, 'the route schema validated the body before the lock')
  t.equal(job.recordFailure, undefined, 'a failed transaction leaves no key behind: nothing to keep')
})

t.test('a new key: claimed first, then the effect and its answer, in one transaction; the same key and body replay it', async (t) => {
  const { idempotency, observed, keys, ran } = setup('run')
  const effects: string[] = []
  const effect = async (tx: Queryable) => { effects.push(typeof tx.run); return created }
  t.same(await idempotency.run('admin_boost', 'k1', body, effect), { answer: created, replayed: false })
  t.same(ran, ['bw_idempotency_find', 'begin', 'bw_idempotency_claim', 'bw_idempotency_answer', 'commit'])
  t.same(effects, ['function'], 'the effect ran once, inside the transaction')
  t.match(keys.get('admin_boost:k1'), { scope: 'admin_boost', request_hash: requestHash('admin_boost', body), status_code: 201, response: { id: 1 } })

  t.same(await idempotency.run('admin_boost', 'k1', { months: 1, communityId: 'c1' }, effect), { answer: created, replayed: true },
    'the same body in another key order')
  t.same(effects, ['function'], 'not run again')
  t.same(observed, [['admin_boost', 'processed'], ['admin_boost', 'duplicate']], 'each request observed once')
})

t.test('a claim that finds the key taken (another holder committed it first) writes nothing and replays that holder\'s answer', async (t) => {
  const { idempotency, keys, ran } = setup({ kind: 'duplicate', via: 'fence' })
  keys.set('admin_boost:k1', { scope: 'admin_boost', request_hash: requestHash('admin_boost', body), status_code: 201, response: { id: 7 } })
  t.same(await idempotency.run('admin_boost', 'k1', body, async () => created), { answer: { statusCode: 201, body: { id: 7 } }, replayed: true })
  t.same(ran, ['bw_idempotency_find'], 'the first answer, read from Postgres')

  // The job itself, as a second holder whose lease expired would run it: the first holder's claim is there.
  const second = setup({ kind: 'in_progress' })
  let ranEffect = false
  await refusalOf(second.idempotency.run('admin_boost', 'k2', body, async () => { ranEffect = true; return created }))
  second.keys.set('admin_boost:k2', { scope: 'admin_boost', request_hash: requestHash('admin_boost', body), status_code: 201, response: { id: 8 } })
  second.ran.length = 0
  t.equal(await second.jobs[0]!.execute(undefined), undefined, 'execute answers undefined: a duplicate for LVVER')
  t.equal(ranEffect, false, 'the effect never ran: the claim came back empty')
  t.same(second.ran, ['begin', 'bw_idempotency_claim', 'commit'], 'nothing but the claim was sent')
  t.match(await second.jobs[0]!.findFinal?.(), { requestHash: requestHash('admin_boost', body), answer: { statusCode: 201, body: { id: 8 } } },
    'findFinal reads the stored answer')
})

t.test('each outcome becomes an answer or a refusal, counted once with its result', async (t) => {
  const hash = requestHash('admin_boost', body)
  const cases: Array<[string, LvverOutcome<unknown>, Record<string, unknown> | 'answer', string]> = [
    ['in_progress', { kind: 'in_progress' }, { statusCode: 409, code: 'BW_ERR_IN_PROGRESS', retryAfter: 1, body: { status: 'in_progress' } }, 'in_progress'],
    ['fallback spent', { kind: 'fallback_exhausted' }, { statusCode: 429, code: 'BW_ERR_TOO_MANY_REQUESTS', retryAfter: 1 }, 'fallback_exhausted'],
    ['the same body again', { kind: 'duplicate', via: 'postgres', result: { requestHash: hash, answer: created } }, 'answer', 'duplicate'],
    ['another body', { kind: 'duplicate', via: 'postgres', result: { requestHash: 'other', answer: created } }, { statusCode: 422, code: 'BW_ERR_IDEMPOTENCY_KEY_REUSED' }, 'key_reused']
  ]
  for (const [name, outcome, expected, result] of cases) {
    const { idempotency, observed } = setup(outcome)
    const run = idempotency.run('admin_boost', 'k1', body, async () => created)
    if (expected === 'answer') t.same(await run, { answer: created, replayed: true }, name)
    else t.match(await refusalOf(run), expected, name)
    t.same(observed, [['admin_boost', result]], `${name}: counted as ${result}`)
  }
})

t.test('a marker with no record behind it is an error (500), not an answer; a bad key never reaches the pipeline', async (t) => {
  const { idempotency, observed } = setup({ kind: 'duplicate', via: 'redis' })
  const error = await refusalOf(idempotency.run('admin_boost', 'k1', body, async () => created))
  t.notOk(isRefusal(error), 'not a refusal: the error handler masks it as a 500')
  t.match(error, { message: /admin_boost:k1 is marked done but has no record/ })
  t.same(observed, [['admin_boost', 'error']])

  const bad = setup('run')
  t.match(await refusalOf(bad.idempotency.run('admin_boost', undefined, body, async () => created)), { statusCode: 400 })
  t.equal(bad.jobs.length, 0, 'no lock was asked for')
  t.same(bad.observed, [['admin_boost', 'invalid']])
})
