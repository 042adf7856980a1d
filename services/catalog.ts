// The price catalogue: what each Paddle price grants. What a purchase grants comes from the price paid, never from
// the checkout's custom_data, which the buyer's browser can edit. Read once at start; a bad file stops the start.
import { readFileSync } from 'node:fs'
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ValueErrorType } from '@sinclair/typebox/errors'

// Each rule's `description` is also the text of the error that names a breach of it.
const PriceId = Type.String({
  pattern: '^pri_[a-z0-9]{1,124}$',
  description: 'a Paddle price id: "pri_" then lowercase letters and digits, at most 128 characters'
})

export const BoostGrant = Type.Object({
  grant: Type.Literal('boost'),
  months: Type.Integer({ minimum: 1, maximum: 120, description: 'an integer from 1 to 120' })
}, { additionalProperties: false })

/** A name in the catalogue; `description` is what an error message says it must be. */
const Name = (maxLength: number, pattern: string, description: string) => Type.String({ minLength: 1, maxLength, pattern, description })

export const TierGrant = Type.Object({
  grant: Type.Literal('tier'),
  tier: Name(32, '^[a-z0-9_-]+$', 'a tier name of 1 to 32 characters: lowercase letters, digits, "_" or "-"')
}, { additionalProperties: false })

export const BadgeGrant = Type.Object({
  grant: Type.Literal('badge'),
  badgeId: Name(128, '^[A-Za-z0-9][A-Za-z0-9_.:-]*$',
    'a badge id of 1 to 128 characters: letters, digits, "_", ".", ":" or "-", starting with a letter or digit')
}, { additionalProperties: false })

export const PriceGrant = Type.Union([BoostGrant, TierGrant, BadgeGrant])

/** The file `PRICE_CATALOG` names: `{ "prices": { "<paddle price id>": <grant> } }`. */
export const PriceCatalogFile = Type.Object({
  prices: Type.Record(PriceId, PriceGrant)
}, { additionalProperties: false })

export type BoostGrant = Static<typeof BoostGrant>
export type TierGrant = Static<typeof TierGrant>
export type BadgeGrant = Static<typeof BadgeGrant>
export type PriceGrant = Static<typeof PriceGrant>
export type PriceCatalogFile = Static<typeof PriceCatalogFile>

const GRANTS = {
  boost: TypeCompiler.Compile(BoostGrant),
  tier: TypeCompiler.Compile(TierGrant),
  badge: TypeCompiler.Compile(BadgeGrant)
} as const
const PRICE_ID = new RegExp(PriceId.pattern as string)
const wholeFile = TypeCompiler.Compile(PriceCatalogFile)

/** A catalogue that cannot be used. The message is one line: `<source>: <what is wrong, naming the entry>`. */
export class CatalogError extends Error {
  override name = 'CatalogError'
  constructor (readonly source: string, readonly detail: string, readonly priceId?: string) {
    super(oneLine(`${source}: ${detail}`))
  }
}

export interface PriceCatalog {
  /** Where it was read from, as its errors name it (`PRICE_CATALOG ./prices.json`). */
  readonly source: string
  /** How many prices it names. */
  readonly size: number
  /** What paying this price grants; undefined for a price the catalogue does not name. */
  grantOf (priceId: string): PriceGrant | undefined
  /** The one price that sells this badge; undefined when none does. */
  priceForBadge (badgeId: string): string | undefined
  /** Every price and its grant, in file order. */
  entries (): IterableIterator<[string, PriceGrant]>
}

class Catalog implements PriceCatalog {
  readonly #grants: ReadonlyMap<string, PriceGrant>
  readonly #badgePrices: ReadonlyMap<string, string>
  constructor (readonly source: string, grants: Map<string, PriceGrant>, badgePrices: Map<string, string>) {
    this.#grants = grants
    this.#badgePrices = badgePrices
  }

  get size (): number { return this.#grants.size }
  grantOf (priceId: string): PriceGrant | undefined { return this.#grants.get(priceId) }
  priceForBadge (badgeId: string): string | undefined { return this.#badgePrices.get(badgeId) }
  entries (): IterableIterator<[string, PriceGrant]> { return this.#grants.entries() }
}

/**
 * Validates a parsed catalogue. `source` begins every error message, so it should say where the value came from.
 *
 * Two prices may grant the same boost length or the same tier (a monthly and a yearly Pro price), but not the same
 * badge: checkouts look a badge's price up (`priceForBadge`), and a badge with two prices would make the price a
 * member is sent to depend on the order of keys in the file, something nobody reading it would see as meaningful.
 */
export function parsePriceCatalog (json: unknown, source: string): PriceCatalog {
  if (!isObject(json)) throw new CatalogError(source, 'must be a JSON object such as { "prices": { "pri_...": { "grant": "boost", "months": 3 } } }')
  for (const key of Object.keys(json)) {
    if (key !== 'prices') throw new CatalogError(source, `has an unknown field ${quote(key)}: only "prices" is read`)
  }
  const prices = json.prices
  if (prices === undefined) throw new CatalogError(source, '"prices" is missing: it maps each Paddle price id to what it grants')
  if (!isObject(prices)) throw new CatalogError(source, `prices must be an object mapping each Paddle price id to what it grants (got ${shown(prices)})`)

  const grants = new Map<string, PriceGrant>()
  const badgePrices = new Map<string, string>()
  for (const [priceId, entry] of Object.entries(prices)) {
    const grant = checkEntry(source, priceId, entry)
    if (grant.grant === 'badge') {
      const other = badgePrices.get(grant.badgeId)
      if (other !== undefined) {
        throw new CatalogError(source, `${entryPath(priceId)}.badgeId ${quote(grant.badgeId)} is also granted by ${entryPath(other)}: ` +
          'a badge has exactly one price, because checkouts look the price up by badge', priceId)
      }
      badgePrices.set(grant.badgeId, priceId)
    }
    grants.set(priceId, Object.freeze(grant))
  }
  if (grants.size === 0) throw new CatalogError(source, 'prices is empty: every purchase would wait for review')
  // The walk above exists for its messages; the schema stays the single statement of the format.
  if (!wholeFile.Check(json)) {
    const error = wholeFile.Errors(json).First()
    throw new CatalogError(source, `${error?.path ?? ''} ${error?.message ?? 'does not match the catalogue format'}`)
  }
  return new Catalog(source, grants, badgePrices)
}

/** Reads and validates the catalogue file at `path`; errors name `source` (by default `PRICE_CATALOG <path>`). */
export function loadPriceCatalog (path: string, source = `PRICE_CATALOG ${path}`): PriceCatalog {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new CatalogError(source, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  // Editors on Windows save a byte-order mark that JSON.parse refuses.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new CatalogError(source, `is not valid JSON (${(err as Error).message})`)
  }
  const duplicate = duplicateKey(text)
  if (duplicate !== undefined) {
    // JSON.parse keeps the last of two equal keys: a copied entry whose id was never changed would silently
    // drop the first one.
    throw new CatalogError(source, `${pathOf(duplicate)} appears twice in the file: JSON keeps only the last one`,
      duplicate[0] === 'prices' ? duplicate[1] : undefined)
  }
  return parsePriceCatalog(json, source)
}

function checkEntry (source: string, priceId: string, entry: unknown): PriceGrant {
  const at = entryPath(priceId)
  if (priceId === '') throw new CatalogError(source, `${at}: a price id must not be empty`, priceId)
  if (!PRICE_ID.test(priceId)) {
    const hint = /^pro_/.test(priceId) ? ' (this looks like a product id)' : ''
    throw new CatalogError(source, `${at}: the key must be ${PriceId.description}${hint}`, priceId)
  }
  if (!isObject(entry)) {
    throw new CatalogError(source, `${at} must be an object such as { "grant": "boost", "months": 3 } (got ${shown(entry)})`, priceId)
  }
  const kind = entry.grant
  if (kind !== 'boost' && kind !== 'tier' && kind !== 'badge') {
    const got = kind === undefined ? 'it is missing' : `got ${shown(kind)}`
    throw new CatalogError(source, `${at}.grant must be "boost", "tier" or "badge" (${got})`, priceId)
  }
  const check = GRANTS[kind]
  if (check.Check(entry)) return { ...entry } as PriceGrant
  const errors = [...check.Errors(entry)]
  // An unknown field first: `"month": 3` is a typo for months, which is then reported missing.
  const error = errors.find((e) => e.type === ValueErrorType.ObjectAdditionalProperties) ?? errors[0]
  const fields = Object.keys(check.Schema().properties).map(quote).join(' and ')
  if (error === undefined || error.path === '') {
    throw new CatalogError(source, `${at} is not a valid ${kind} grant`, priceId)
  }
  const field = error.path.slice(1)
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    throw new CatalogError(source, `${at} has an unknown field ${quote(field)} (a ${kind} grant has ${fields})`, priceId)
  }
  const rule = (error.schema as TSchema).description ?? error.message.toLowerCase()
  const value = entry[field]
  const got = value === undefined ? 'it is missing' : `got ${shown(value)}`
  throw new CatalogError(source, `${at}.${field} must be ${rule} (${got})`, priceId)
}

/** `prices["pri_01abc"]`, with the id quoted as JSON so quotes or newlines in it cannot break the line. */
function entryPath (priceId: string): string {
  return `prices[${quote(priceId)}]`
}

function pathOf (keys: string[]): string {
  const [first, ...rest] = keys
  if (first === 'prices' && rest.length > 0) {
    const [priceId, ...fields] = rest
    return [entryPath(priceId as string), ...fields].join('.')
  }
  return keys.map(quote).join('.')
}

function quote (text: string): string {
  const json = JSON.stringify(text)
  return json.length > 100 ? `${json.slice(0, 96)}..."` : json
}

function shown (value: unknown): string {
  if (value === undefined) return 'nothing'
  const json = JSON.stringify(value)
  return json.length > 60 ? `${json.slice(0, 57)}...` : json
}

function oneLine (text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, ' ')
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * The first key that appears twice in one object of `text`, as its path of keys. `text` must already be valid
 * JSON: this only tracks strings, braces and brackets.
 */
function duplicateKey (text: string): string[] | undefined {
  // One frame per open object (its keys so far) or array (null); `path` holds the key each open object sits under.
  const frames: Array<Set<string> | null> = []
  const path: string[] = []
  let lastKey: string | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '"') {
      let end = i + 1
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1
      const frame = frames.at(-1)
      let next = end + 1
      while (next < text.length && /\s/.test(text[next] as string)) next++
      if (frame != null && text[next] === ':') {
        const key = JSON.parse(text.slice(i, end + 1)) as string
        if (frame.has(key)) return [...path, key]
        frame.add(key)
        lastKey = key
      }
      i = end
    } else if (c === '{' || c === '[') {
      if (frames.length > 0) path.push(frames.at(-1) === null ? '[]' : lastKey ?? '')
      frames.push(c === '{' ? new Set() : null)
    } else if (c === '}' || c === ']') {
      frames.pop()
      path.pop()
    }
  }
  return undefined
}
