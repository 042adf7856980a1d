// Paddle Billing webhook signatures: `Paddle-Signature: ts=<unix seconds>;h1=<hex>` over "<ts>:<raw body>".
import { createHmac, timingSafeEqual } from 'node:crypto'

export type SignatureFailure = 'missing' | 'malformed' | 'stale' | 'mismatch'

export type SignatureCheck = { ok: true, timestamp: number } | { ok: false, reason: SignatureFailure }

export interface VerifyOptions {
  /** Every secret currently accepted (rotation). */
  secrets: readonly string[]
  /** How far `ts` may lie from now, in the past or the future. */
  toleranceSeconds: number
  /** Unix seconds; injectable for tests. */
  nowSeconds?: number
}

const MAX_HEADER_LENGTH = 4096
const HEX_SHA256 = /^[0-9a-f]{64}$/i

interface ParsedHeader { ts: number, h1: Buffer[] }

/** Splits the header into its timestamp and every h1 signature; undefined when it is not of that form. */
export function parseSignatureHeader (header: string): ParsedHeader | undefined {
  if (header.length > MAX_HEADER_LENGTH) return undefined
  let ts: number | undefined
  const h1: Buffer[] = []
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) return undefined
    const name = part.slice(0, eq).trim()
    const value = part.slice(eq + 1).trim()
    if (name === 'ts') {
      if (ts !== undefined || !/^\d{1,12}$/.test(value)) return undefined
      ts = Number(value)
    } else if (name === 'h1') {
      if (!HEX_SHA256.test(value)) return undefined
      h1.push(Buffer.from(value, 'hex'))
    }
    // Other schemes (a future h2=...) are ignored, as Paddle's own SDKs do.
  }
  if (ts === undefined || h1.length === 0) return undefined
  return { ts, h1 }
}

export function computeSignature (secret: string, ts: number, rawBody: Buffer | string): Buffer {
  return createHmac('sha256', secret).update(`${ts}:`).update(rawBody).digest()
}

/** Verifies over the raw bytes, before any JSON parsing; every (secret, h1) pair compared in constant time. */
export function verifyPaddleSignature (
  header: string | string[] | undefined,
  rawBody: Buffer,
  options: VerifyOptions
): SignatureCheck {
  if (header === undefined || header === '') return { ok: false, reason: 'missing' }
  // A header sent twice is ambiguous; refuse it rather than pick one.
  if (Array.isArray(header)) return { ok: false, reason: 'malformed' }
  const parsed = parseSignatureHeader(header)
  if (parsed === undefined) return { ok: false, reason: 'malformed' }
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000)
  if (Math.abs(now - parsed.ts) > options.toleranceSeconds) return { ok: false, reason: 'stale' }
  let matched = false
  for (const secret of options.secrets) {
    const expected = computeSignature(secret, parsed.ts, rawBody)
    for (const candidate of parsed.h1) {
      // No early exit: the time taken does not depend on which pair matched.
      if (timingSafeEqual(expected, candidate)) matched = true
    }
  }
  return matched ? { ok: true, timestamp: parsed.ts } : { ok: false, reason: 'mismatch' }
}

/** Builds a header as Paddle does; used by the sample sender, the tests and the benchmark. */
export function signPaddleBody (rawBody: Buffer | string, secret: string, ts = Math.floor(Date.now() / 1000)): string {
  return `ts=${ts};h1=${computeSignature(secret, ts, rawBody).toString('hex')}`
}
