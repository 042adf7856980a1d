// The one error handler (plugins/errors.ts): every refusal and every Fastify 4xx answers `{ error, message }`
// plus the fields the refusal carries, with Retry-After when it says when; anything else is a masked 500.
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import { Writable } from 'node:stream'
import { Type } from '@sinclair/typebox'
import errorsPlugin from '../../plugins/errors.js'
import {
  FallbackExhaustedError, InProgressError, InvalidSignatureError, KeyReusedError, NotFoundError, ServiceUnavailableError,
  UnknownBadgeError, errorSlug, isRefusal, refusal
} from '../../services/errors.js'
import { safeErrorSerializer } from '../../services/safe-error.js'

async function build (t: Test) {
  const logs: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, callback) { logs.push(...chunk.toString().split('\n').filter(Boolean)); callback() } })
  const app = Fastify({
    logger: { level: 'info', stream, serializers: { err: safeErrorSerializer } },
    bodyLimit: 100,
    // As app.ts: an unexpected field is refused, not silently dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } }
  })
  await app.register(errorsPlugin)
  const throwing = new Map<string, () => unknown>()
  app.post('/throw/:name', async (request) => {
    const make = throwing.get((request.params as { name: string }).name)
    if (make === undefined) return { ok: true }
    throw make()
  })
  app.post('/schema', {
    schema: { body: Type.Object({ months: Type.Integer({ maximum: 24 }) }, { additionalProperties: false }) }
  }, async () => ({ ok: true }))
  t.teardown(() => app.close())
  const call = (name: string, make: () => unknown) => {
    throwing.set(name, make)
    return app.inject({ method: 'POST', url: `/throw/${name}` })
  }
  return { app, logs, call }
}

t.test('a refusal answers its status, its code as the error, its message, and what it carries; Retry-After when it says when', async (t) => {
  const { call } = await build(t)
  const busy = await call('busy', () => refusal(new InProgressError(), { retryAfter: 1, body: { status: 'in_progress', eventId: 'evt_1' } }))
  t.equal(busy.statusCode, 409)
  t.equal(busy.headers['retry-after'], '1')
  t.same(busy.json(), { error: 'in_progress', message: new InProgressError().message, retryAfter: 1, status: 'in_progress', eventId: 'evt_1' })

  const spent = await call('spent', () => refusal(new FallbackExhaustedError(), { retryAfter: 1 }))
  t.same([spent.statusCode, spent.headers['retry-after'], spent.json().error, spent.json().retryAfter], [429, '1', 'too_many_requests', 1])

  const closed = await call('closed', () => refusal(new ServiceUnavailableError('Redis is unavailable'), { retryAfter: 30 }))
  t.same([closed.statusCode, closed.headers['retry-after']], [503, '30'])
  t.same(closed.json(), { error: 'service_unavailable', message: 'Redis is unavailable', retryAfter: 30 }, 'a 5xx refusal passes through unmasked: it is ours')

  const cases: Array<[() => Error, number, Record<string, unknown>]> = [
    [() => new InvalidSignatureError('ts outside tolerance'), 401, { error: 'invalid_signature', message: 'Invalid webhook signature: ts outside tolerance' }],
    [() => new KeyReusedError(), 422, { error: 'idempotency_key_reused', message: new KeyReusedError().message }],
    [() => new UnknownBadgeError('badge_x'), 422, { error: 'unknown_badge', message: 'No price in the catalogue grants badge badge_x.' }],
    [() => new NotFoundError('No event evt_1 in the inbox'), 404, { error: 'not_found', message: 'No event evt_1 in the inbox' }]
  ]
  for (const [make, status, body] of cases) {
    const answer = await call(String(body.error), make)
    t.equal(answer.statusCode, status, String(body.error))
    t.same(answer.json(), body, `${String(body.error)}: exactly error and message`)
    t.equal(answer.headers['retry-after'], undefined, `${String(body.error)}: no Retry-After when it does not say when`)
  }
})

t.test('anything else is a 500 that shows nothing: no message, no stack, no status of its own', async (t) => {
  const { call, logs } = await build(t)
  const leaky = Object.assign(new Error('Failed query: insert into boosts values ($1)\nparams: secret-community,42'), { cause: { code: '23514', message: 'new row violates check constraint' } })
  const answers = [
    await call('plain', () => leaky),
    await call('bug', () => new TypeError('cannot read properties of undefined (reading \'id\')')),
    await call('upstream', () => Object.assign(new Error('bad gateway from somewhere'), { statusCode: 502 })),
    await call('string', () => 'a thrown string')
  ]
  for (const answer of answers) {
    t.equal(answer.statusCode, 500)
    t.same(answer.json(), { error: 'internal_error', message: 'Internal error; the request was not applied and may be retried.' })
    t.notMatch(answer.body, /secret-community|Failed query|TypeError|bad gateway|thrown string|\.ts:\d+/, 'nothing of the error in the answer')
    t.equal(answer.headers['retry-after'], undefined)
  }
  const errors = logs.map((line) => JSON.parse(line) as { level: number, msg: string, err?: { message: string } }).filter((line) => line.level === 50)
  t.equal(errors.length, answers.length, 'each 500 is logged at error level')
  t.match(errors[0], { msg: 'request failed', err: { message: 'postgres 23514: new row violates check constraint' } })
  t.notOk(logs.some((line) => line.includes('secret-community')), 'the log line has no SQL parameter either')
})

t.test('Fastify\'s own 4xx keep the shape, with stable codes and a message naming the field', async (t) => {
  const { app, call } = await build(t)
  const post = (payload: string, contentType = 'application/json') =>
    app.inject({ method: 'POST', url: '/schema', headers: { 'content-type': contentType }, payload })
  const cases: Array<[Promise<{ statusCode: number, json(): Record<string, unknown> }>, number, string, RegExp]> = [
    [post(JSON.stringify({ months: 25 })), 400, 'validation_error', /body\/months must be <= 24/],
    [post(JSON.stringify({ months: 2, extra: 1 })), 400, 'validation_error', /must NOT have additional properties: 'extra'/],
    [post('{not json'), 400, 'invalid_json', /JSON/],
    [post(''), 400, 'invalid_json', /empty/i],
    [post(JSON.stringify({ months: 2, pad: 'x'.repeat(200) })), 413, 'payload_too_large', /.+/],
    [post('months=2', 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type', /.+/],
    [app.inject({ method: 'GET', url: '/nowhere?x=1' }), 404, 'not_found', /^Route GET \/nowhere not found$/],
    [call('conflict', () => Object.assign(new Error('someone else has it'), { statusCode: 409 })), 409, 'conflict', /^someone else has it$/]
  ]
  for (const [pending, status, error, message] of cases) {
    const answer = await pending
    t.equal(answer.statusCode, status, error)
    t.same(Object.keys(answer.json()).sort(), ['error', 'message'], `${error}: error and message, nothing else`)
    t.equal(answer.json().error, error)
    t.match(answer.json().message, message, `${error}: the message says what`)
  }
})

t.test('errorSlug and isRefusal: the codes this service makes, and only those', async (t) => {
  t.equal(errorSlug('BW_ERR_IDEMPOTENCY_KEY_REUSED'), 'idempotency_key_reused')
  t.ok(isRefusal(new InProgressError()))
  t.notOk(isRefusal(new Error('plain')))
  t.notOk(isRefusal(Object.assign(new Error('fastify'), { code: 'FST_ERR_VALIDATION', statusCode: 400 })), 'Fastify\'s errors are not ours')
  t.notOk(isRefusal(Object.assign(new Error('pg'), { code: '23505' })), 'nor is a driver\'s')
  for (const thrown of [null, undefined, 'BW_ERR_IN_PROGRESS', 409]) t.notOk(isRefusal(thrown), `${String(thrown)}: not a refusal, and no throw`)
})
