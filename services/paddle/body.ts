// The webhook's raw body, parsed only after its signature verified: strict UTF-8. Prototype-poisoning keys
// (`__proto__`, `constructor.prototype`) are dropped, not refused: a signed event is kept, never poisoned.
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
    return sjson.parse(text, undefined, { protoAction: 'remove', constructorAction: 'remove' })
  } catch (err) {
    throw new InvalidJsonError(err instanceof Error ? err.message : 'it cannot be parsed')
  }
}
