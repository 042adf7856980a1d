// The webhook's raw body, parsed only after its signature verified: strict UTF-8, no prototype-poisoning keys.
import sjson from 'secure-json-parse'
import { InvalidJsonError } from '../errors.js'

const utf8 = new TextDecoder('utf-8', { fatal: true })

export function parseBody (raw: Buffer): unknown {
  let text: string
  try {
    text = utf8.decode(raw)
  } catch {
    throw new InvalidJsonError('it is not valid UTF-8')
  }
  if (text.trim() === '') throw new InvalidJsonError('it is empty')
  try {
    return sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' })
  } catch (err) {
    const reason = err instanceof SyntaxError ? err.message : 'it carries a forbidden key (__proto__ or constructor.prototype)'
    throw new InvalidJsonError(reason)
  }
}
