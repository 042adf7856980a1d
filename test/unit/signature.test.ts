import t from 'tap'
import { computeSignature, parseSignatureHeader, signPaddleBody, verifyPaddleSignature } from '../../services/paddle/signature.js'

const body = Buffer.from('{"event_id":"evt_1"}')
const now = 1_800_000_000

t.test('parseSignatureHeader', async (t) => {
  const h1 = 'ab'.repeat(32)
  t.same(parseSignatureHeader(`ts=12;h1=${h1}`)?.ts, 12)
  t.equal(parseSignatureHeader(`ts=12;h1=${h1};h1=${h1}`)?.h1.length, 2, 'several h1')
  t.ok(parseSignatureHeader(` ts=12 ; h1=${h1} ; h2=whatever`), 'spaces and unknown schemes tolerated')
  for (const bad of ['', 'ts=12', `h1=${h1}`, `ts=;h1=${h1}`, `ts=1e3;h1=${h1}`, `ts=12;ts=13;h1=${h1}`, 'ts=12;h1=abc', `ts=12;h1=${'g'.repeat(64)}`, `ts=12;${h1}`, `ts=12;h1=${h1};`.repeat(200)]) {
    t.equal(parseSignatureHeader(bad), undefined, JSON.stringify(bad.slice(0, 40)))
  }
})

t.test('verifyPaddleSignature', async (t) => {
  const options = { secrets: ['s1', 's2'], toleranceSeconds: 300, nowSeconds: now }
  t.same(verifyPaddleSignature(signPaddleBody(body, 's1', now), body, options), { ok: true, timestamp: now })
  t.same(verifyPaddleSignature(signPaddleBody(body, 's2', now), body, options), { ok: true, timestamp: now }, 'second secret')
  t.same(verifyPaddleSignature(signPaddleBody(body, 's3', now), body, options), { ok: false, reason: 'mismatch' })
  t.same(verifyPaddleSignature(signPaddleBody(Buffer.from('{"event_id":"evt_2"}'), 's1', now), body, options), { ok: false, reason: 'mismatch' })
  t.same(verifyPaddleSignature(signPaddleBody(body, 's1', now - 300), body, options).ok, true, 'edge of the past window')
  t.same(verifyPaddleSignature(signPaddleBody(body, 's1', now + 300), body, options).ok, true, 'edge of the future window')
  t.same(verifyPaddleSignature(signPaddleBody(body, 's1', now - 301), body, options), { ok: false, reason: 'stale' })
  t.same(verifyPaddleSignature(signPaddleBody(body, 's1', now + 301), body, options), { ok: false, reason: 'stale' })
  t.same(verifyPaddleSignature(undefined, body, options), { ok: false, reason: 'missing' })
  t.same(verifyPaddleSignature('', body, options), { ok: false, reason: 'missing' })
  t.same(verifyPaddleSignature(['a', 'b'], body, options), { ok: false, reason: 'malformed' })
  t.same(verifyPaddleSignature('nonsense', body, options), { ok: false, reason: 'malformed' })
  t.equal(computeSignature('s1', now, body).toString('hex'), signPaddleBody(body, 's1', now).split('h1=')[1], 'h1 = HMAC-SHA256(secret, ts:body)')
})

t.test('several secrets and several h1: any pair may match, in any position', async (t) => {
  const ts = now
  const sig = (secret: string) => computeSignature(secret, ts, body).toString('hex')
  const options = { secrets: ['old', 'current', 'next'], toleranceSeconds: 300, nowSeconds: now }
  t.equal(verifyPaddleSignature(`ts=${ts};h1=${sig('x')};h1=${sig('next')}`, body, options).ok, true, 'third secret, second h1')
  t.equal(verifyPaddleSignature(`ts=${ts};h1=${sig('old')};h1=${sig('x')}`, body, options).ok, true, 'first secret, first h1')
  t.same(verifyPaddleSignature(`ts=${ts};h1=${sig('x')};h1=${sig('y')}`, body, options), { ok: false, reason: 'mismatch' })
  t.same(verifyPaddleSignature(`ts=${ts};h1=${sig('old')}`, body, { ...options, secrets: [] }), { ok: false, reason: 'mismatch' }, 'no secret, no match')
  t.equal(verifyPaddleSignature(`ts=${ts};h1=${sig('current').toUpperCase()}`, body, options).ok, true, 'hex in either case')
})

t.test('the signature covers the exact bytes', async (t) => {
  const options = { secrets: ['s1'], toleranceSeconds: 300, nowSeconds: now }
  const header = signPaddleBody(body, 's1', now)
  t.equal(verifyPaddleSignature(header, Buffer.from(body.toString('utf8')), options).ok, true, 'same bytes, new buffer')
  t.equal(verifyPaddleSignature(header, Buffer.from('{"event_id": "evt_1"}'), options).ok, false, 'the same JSON with a space')
  t.equal(verifyPaddleSignature(header, Buffer.concat([body, Buffer.from('\n')]), options).ok, false, 'a trailing newline')
  t.equal(computeSignature('s1', now, body).equals(computeSignature('s1', now, body.toString('utf8'))), true, 'string and Buffer sign alike')
})

t.test('tolerance is configurable and applies both ways', async (t) => {
  const options = { secrets: ['s1'], toleranceSeconds: 5, nowSeconds: now }
  for (const [offset, ok] of [[-6, false], [-5, true], [0, true], [5, true], [6, false]] as const) {
    t.equal(verifyPaddleSignature(signPaddleBody(body, 's1', now + offset), body, options).ok, ok, `ts ${offset > 0 ? '+' : ''}${offset} s`)
  }
})

t.test('header edge cases', async (t) => {
  const h1 = computeSignature('s1', now, body).toString('hex')
  const options = { secrets: ['s1'], toleranceSeconds: 300, nowSeconds: now }
  t.same(verifyPaddleSignature(`ts=${now};h1=${h1};${'x='.repeat(3000)}`, body, options), { ok: false, reason: 'malformed' }, 'over 4 KB')
  t.same(verifyPaddleSignature(`ts=${'9'.repeat(13)};h1=${h1}`, body, options), { ok: false, reason: 'malformed' }, 'a ts of 13 digits')
  t.same(verifyPaddleSignature(`ts=-${now};h1=${h1}`, body, options), { ok: false, reason: 'malformed' }, 'a negative ts')
  t.same(verifyPaddleSignature(`h1=${h1};ts=${now}`, body, options).ok, true, 'order of the parts does not matter')
  t.same(verifyPaddleSignature(`ts=${now};h1=${h1};h2=${'0'.repeat(64)}`, body, options).ok, true, 'an unknown scheme is ignored')
  t.same(verifyPaddleSignature(`ts=${now};h1=${h1}00`, body, options), { ok: false, reason: 'malformed' }, 'h1 too long')
  t.same(verifyPaddleSignature(`ts=${now},h1=${h1}`, body, options), { ok: false, reason: 'malformed' }, 'comma instead of semicolon')
})
