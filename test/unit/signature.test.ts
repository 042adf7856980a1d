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
