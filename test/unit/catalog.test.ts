import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CatalogError, loadPriceCatalog, parsePriceCatalog } from '../../services/catalog.js'
import { EXAMPLE_CATALOG_PATH, EXAMPLE_PRICES } from '../helpers/paddle-payloads.js'

const SOURCE = 'PRICE_CATALOG ./prices.json'
const A = 'pri_01hry6gtv041wh38krwmcwhcnp'
const B = 'pri_01hrycf8k06twwz69bkdcy5vfq'

/** The CatalogError a catalogue throws (fails the test when it throws nothing or something else). */
function refusal (load: () => unknown): CatalogError {
  try {
    load()
  } catch (err) {
    if (err instanceof CatalogError) return err
    throw err
  }
  throw new Error('the catalogue was accepted')
}

const dir = mkdtempSync(join(tmpdir(), 'catalog-test-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
let files = 0
function file (text: string): string {
  const path = join(dir, `prices-${files++}.json`)
  writeFileSync(path, text)
  return path
}

t.test('the shipped example catalogue loads, with every price the tests name', async (t) => {
  const catalog = loadPriceCatalog(EXAMPLE_CATALOG_PATH)
  t.equal(catalog.size, 8)
  t.equal(catalog.source, `PRICE_CATALOG ${EXAMPLE_CATALOG_PATH}`)
  t.same(catalog.grantOf(EXAMPLE_PRICES.boost1), { grant: 'boost', months: 1 })
  t.same(catalog.grantOf(EXAMPLE_PRICES.boost3), { grant: 'boost', months: 3 })
  t.same(catalog.grantOf(EXAMPLE_PRICES.boost12), { grant: 'boost', months: 12 })
  t.same(catalog.grantOf(EXAMPLE_PRICES.starter), { grant: 'tier', tier: 'starter' })
  t.same(catalog.grantOf(EXAMPLE_PRICES.pro), { grant: 'tier', tier: 'pro' })
  t.same(catalog.grantOf(EXAMPLE_PRICES.business), { grant: 'tier', tier: 'business' })
  t.same(catalog.grantOf(EXAMPLE_PRICES.badgeGold), { grant: 'badge', badgeId: 'badge_gold' })
  t.same(catalog.grantOf(EXAMPLE_PRICES.badgeSilver), { grant: 'badge', badgeId: 'badge_silver' })
  t.equal(catalog.priceForBadge('badge_gold'), EXAMPLE_PRICES.badgeGold)
  t.equal(catalog.priceForBadge('badge_silver'), EXAMPLE_PRICES.badgeSilver)
  t.equal(new Set(Object.values(EXAMPLE_PRICES)).size, 8, 'eight distinct prices')
  t.same([...catalog.entries()].map(([priceId]) => priceId), Object.values(EXAMPLE_PRICES), 'file order')
})

t.test('lookups: unknown prices and badges are undefined, whatever their name', async (t) => {
  const catalog = parsePriceCatalog({ prices: { [A]: { grant: 'boost', months: 3 }, [B]: { grant: 'badge', badgeId: 'badge_gold' } } }, SOURCE)
  t.equal(catalog.grantOf('pri_01unknown'), undefined)
  t.equal(catalog.grantOf(A.toUpperCase()), undefined, 'ids are exact, not case-folded')
  t.equal(catalog.grantOf(` ${A}`), undefined)
  for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '']) {
    t.equal(catalog.grantOf(name), undefined, name)
    t.equal(catalog.priceForBadge(name), undefined, name)
  }
  t.equal(catalog.priceForBadge('badge_silver'), undefined)
  t.equal(catalog.priceForBadge('Badge_Gold'), undefined)
})

t.test('a grant cannot be changed through a lookup', async (t) => {
  const catalog = parsePriceCatalog({ prices: { [A]: { grant: 'boost', months: 3 } } }, SOURCE)
  const grant = catalog.grantOf(A) as { months: number }
  t.throws(() => { grant.months = 120 }, TypeError)
  t.same(catalog.grantOf(A), { grant: 'boost', months: 3 })
})

t.test('the parsed value is not kept: changing it afterwards changes nothing', async (t) => {
  const json = { prices: { [A]: { grant: 'boost', months: 3 } } }
  const catalog = parsePriceCatalog(json, SOURCE)
  json.prices[A].months = 99
  t.same(catalog.grantOf(A), { grant: 'boost', months: 3 })
})

t.test('several prices may grant the same tier or the same boost (monthly and yearly Pro)', async (t) => {
  const catalog = parsePriceCatalog({
    prices: {
      pri_01promonthly: { grant: 'tier', tier: 'pro' },
      pri_01proyearly: { grant: 'tier', tier: 'pro' },
      pri_01boosteur: { grant: 'boost', months: 3 },
      pri_01boostusd: { grant: 'boost', months: 3 }
    }
  }, SOURCE)
  t.equal(catalog.size, 4)
  t.same(catalog.grantOf('pri_01proyearly'), { grant: 'tier', tier: 'pro' })
})

t.test('bounds that are accepted', async (t) => {
  const catalog = parsePriceCatalog({
    prices: {
      pri_01a: { grant: 'boost', months: 1 },
      pri_01b: { grant: 'boost', months: 120 },
      pri_01c: { grant: 'tier', tier: 't'.repeat(32) },
      pri_01d: { grant: 'tier', tier: 'pro_2-plus' },
      pri_01e: { grant: 'badge', badgeId: `b${'x'.repeat(127)}` },
      pri_01f: { grant: 'badge', badgeId: 'Badge.Gold:2026-v1' },
      [`pri_${'a'.repeat(124)}`]: { grant: 'boost', months: 2 }
    }
  }, SOURCE)
  t.equal(catalog.size, 7)
})

t.test('every refusal is one line that names the source and the entry', async (t) => {
  const cases: Array<[string, unknown, string | undefined, string]> = [
    ['months 0', { prices: { pri_01abc: { grant: 'boost', months: 0 } } }, 'pri_01abc',
      'prices["pri_01abc"].months must be an integer from 1 to 120 (got 0)'],
    ['months 121', { prices: { pri_01abc: { grant: 'boost', months: 121 } } }, 'pri_01abc',
      'prices["pri_01abc"].months must be an integer from 1 to 120 (got 121)'],
    ['months 2.5', { prices: { pri_01abc: { grant: 'boost', months: 2.5 } } }, 'pri_01abc',
      'prices["pri_01abc"].months must be an integer from 1 to 120 (got 2.5)'],
    ['months as a string', { prices: { pri_01abc: { grant: 'boost', months: '3' } } }, 'pri_01abc',
      'prices["pri_01abc"].months must be an integer from 1 to 120 (got "3")'],
    ['months null', { prices: { pri_01abc: { grant: 'boost', months: null } } }, 'pri_01abc',
      'prices["pri_01abc"].months must be an integer from 1 to 120 (got null)'],
    ['months missing', { prices: { pri_01abc: { grant: 'boost' } } }, 'pri_01abc',
      'prices["pri_01abc"].months must be an integer from 1 to 120 (it is missing)'],
    ['a typo in a field name', { prices: { pri_01abc: { grant: 'boost', month: 3 } } }, 'pri_01abc',
      'prices["pri_01abc"] has an unknown field "month" (a boost grant has "grant" and "months")'],
    ['a field of another grant', { prices: { pri_01abc: { grant: 'tier', tier: 'pro', months: 3 } } }, 'pri_01abc',
      'prices["pri_01abc"] has an unknown field "months" (a tier grant has "grant" and "tier")'],
    ['an empty tier', { prices: { pri_01abc: { grant: 'tier', tier: '' } } }, 'pri_01abc',
      'prices["pri_01abc"].tier must be a tier name of 1 to 32 characters: lowercase letters, digits, "_" or "-" (got "")'],
    ['a 33-character tier', { prices: { pri_01abc: { grant: 'tier', tier: 't'.repeat(33) } } }, 'pri_01abc',
      `prices["pri_01abc"].tier must be a tier name of 1 to 32 characters: lowercase letters, digits, "_" or "-" (got "${'t'.repeat(33)}")`],
    ['a capitalised tier', { prices: { pri_01abc: { grant: 'tier', tier: 'Pro' } } }, 'pri_01abc',
      'prices["pri_01abc"].tier must be a tier name of 1 to 32 characters: lowercase letters, digits, "_" or "-" (got "Pro")'],
    ['a tier missing', { prices: { pri_01abc: { grant: 'tier' } } }, 'pri_01abc',
      'prices["pri_01abc"].tier must be a tier name of 1 to 32 characters: lowercase letters, digits, "_" or "-" (it is missing)'],
    ['an empty badgeId', { prices: { pri_01abc: { grant: 'badge', badgeId: '' } } }, 'pri_01abc',
      'prices["pri_01abc"].badgeId must be a badge id of 1 to 128 characters'],
    ['a badgeId with a space', { prices: { pri_01abc: { grant: 'badge', badgeId: 'gold badge' } } }, 'pri_01abc',
      'prices["pri_01abc"].badgeId must be a badge id of 1 to 128 characters'],
    ['a 129-character badgeId', { prices: { pri_01abc: { grant: 'badge', badgeId: `b${'x'.repeat(128)}` } } }, 'pri_01abc',
      'prices["pri_01abc"].badgeId must be a badge id of 1 to 128 characters'],
    ['badge_id instead of badgeId', { prices: { pri_01abc: { grant: 'badge', badge_id: 'badge_gold' } } }, 'pri_01abc',
      'prices["pri_01abc"] has an unknown field "badge_id" (a badge grant has "grant" and "badgeId")'],
    ['an unknown grant', { prices: { pri_01abc: { grant: 'coupon', percent: 10 } } }, 'pri_01abc',
      'prices["pri_01abc"].grant must be "boost", "tier" or "badge" (got "coupon")'],
    ['a capitalised grant', { prices: { pri_01abc: { grant: 'Boost', months: 3 } } }, 'pri_01abc',
      'prices["pri_01abc"].grant must be "boost", "tier" or "badge" (got "Boost")'],
    ['no grant', { prices: { pri_01abc: { months: 3 } } }, 'pri_01abc',
      'prices["pri_01abc"].grant must be "boost", "tier" or "badge" (it is missing)'],
    ['an entry that is a number', { prices: { pri_01abc: 3 } }, 'pri_01abc',
      'prices["pri_01abc"] must be an object such as { "grant": "boost", "months": 3 } (got 3)'],
    ['an entry that is an array', { prices: { pri_01abc: [{ grant: 'boost', months: 3 }] } }, 'pri_01abc',
      'prices["pri_01abc"] must be an object'],
    ['an empty price id', { prices: { '': { grant: 'boost', months: 3 } } }, '',
      'prices[""]: a price id must not be empty'],
    ['a product id as the key', { prices: { pro_01hry0gjg0f09cksk4x6fyz2m1: { grant: 'boost', months: 3 } } }, 'pro_01hry0gjg0f09cksk4x6fyz2m1',
      'prices["pro_01hry0gjg0f09cksk4x6fyz2m1"]: the key must be a Paddle price id: "pri_" then lowercase letters and digits, at most 128 characters (this looks like a product id)'],
    ['a price id with a trailing space', { prices: { 'pri_01abc ': { grant: 'boost', months: 3 } } }, 'pri_01abc ',
      'prices["pri_01abc "]: the key must be a Paddle price id'],
    ['a 129-character price id', { prices: { [`pri_${'a'.repeat(125)}`]: { grant: 'boost', months: 3 } } }, `pri_${'a'.repeat(125)}`,
      'prices["pri_aaaa'],
    ['a price id with a newline and quotes', { prices: { 'pri_"x"\nnext': { grant: 'boost', months: 3 } } }, 'pri_"x"\nnext',
      'prices["pri_\\"x\\"\\nnext"]: the key must be a Paddle price id'],
    ['__proto__ as a price id', JSON.parse('{ "prices": { "__proto__": { "grant": "boost", "months": 3 } } }'), '__proto__',
      'prices["__proto__"]: the key must be a Paddle price id'],
    ['two prices for one badge', { prices: { pri_01gold: { grant: 'badge', badgeId: 'badge_gold' }, pri_01gold2: { grant: 'badge', badgeId: 'badge_gold' } } },
      'pri_01gold2', 'prices["pri_01gold2"].badgeId "badge_gold" is also granted by prices["pri_01gold"]: a badge has exactly one price'],
    ['a bad entry after good ones', { prices: { [A]: { grant: 'boost', months: 3 }, pri_01late: { grant: 'boost', months: 0 } } }, 'pri_01late',
      'prices["pri_01late"].months must be']
  ]
  for (const [name, json, priceId, detail] of cases) {
    const err = refusal(() => parsePriceCatalog(json, SOURCE))
    t.ok(err.message.startsWith(`${SOURCE}: ${detail}`), `${name}: ${err.message}`)
    t.notMatch(err.message, /[\r\n]/, `${name}: one line`)
    t.equal(err.source, SOURCE, name)
    t.equal(err.priceId, priceId, `${name}: names the entry`)
    t.equal(err.name, 'CatalogError')
  }
})

t.test('a file that is not a catalogue at all names the source and what is wrong', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['null', null, 'must be a JSON object such as { "prices"'],
    ['an array', [], 'must be a JSON object'],
    ['a string', 'prices', 'must be a JSON object'],
    ['no prices', {}, '"prices" is missing'],
    ['prices misspelt', { price: { [A]: { grant: 'boost', months: 3 } } }, 'has an unknown field "price": only "prices" is read'],
    ['a second top-level field', { prices: { [A]: { grant: 'boost', months: 3 } }, currency: 'USD' }, 'has an unknown field "currency"'],
    ['prices an array', { prices: [] }, 'prices must be an object mapping each Paddle price id to what it grants (got [])'],
    ['prices null', { prices: null }, 'prices must be an object mapping each Paddle price id to what it grants (got null)'],
    ['prices empty', { prices: {} }, 'prices is empty']
  ]
  for (const [name, json, detail] of cases) {
    const err = refusal(() => parsePriceCatalog(json, SOURCE))
    t.ok(err.message.startsWith(`${SOURCE}: ${detail}`), `${name}: ${err.message}`)
    t.equal(err.priceId, undefined, name)
  }
})

t.test('loading: an unreadable file, a file that is not JSON, a duplicated entry', async (t) => {
  const missing = join(dir, 'nope.json')
  const unreadable = refusal(() => loadPriceCatalog(missing))
  t.equal(unreadable.message, `PRICE_CATALOG ${missing}: cannot be read (ENOENT)`)

  const directory = refusal(() => loadPriceCatalog(dir))
  t.equal(directory.message, `PRICE_CATALOG ${dir}: cannot be read (EISDIR)`)

  const broken = file('{\n  "prices": {\n    "pri_01abc": { "grant": "boost", "months": 3, }\n  }\n}\n')
  const notJson = refusal(() => loadPriceCatalog(broken))
  t.ok(notJson.message.startsWith(`PRICE_CATALOG ${broken}: is not valid JSON (`), notJson.message)

  // V8 quotes the text around the error, newlines included.
  const quoted = refusal(() => loadPriceCatalog(file('{\n  "prices": x\n}\n')))
  t.match(quoted.message, /: is not valid JSON \(Unexpected token/)
  t.notMatch(quoted.message, /[\r\n]/, 'one line, even when the parser quotes the text')

  const empty = refusal(() => loadPriceCatalog(file('')))
  t.match(empty.message, /: is not valid JSON \(/)

  const twice = file(`{ "prices": {\n  "${A}": { "grant": "boost", "months": 3 },\n  "${B}": { "grant": "tier", "tier": "pro" },\n  "${A}": { "grant": "boost", "months": 12 }\n} }`)
  const duplicate = refusal(() => loadPriceCatalog(twice))
  t.equal(duplicate.message, `PRICE_CATALOG ${twice}: prices["${A}"] appears twice in the file: JSON keeps only the last one`)
  t.equal(duplicate.priceId, A)

  const fieldTwice = file(`{ "prices": { "${A}": { "grant": "boost", "months": 3, "months": 12 } } }`)
  t.equal(refusal(() => loadPriceCatalog(fieldTwice)).message,
    `PRICE_CATALOG ${fieldTwice}: prices["${A}"].months appears twice in the file: JSON keeps only the last one`)

  const topTwice = file(`{ "prices": { "${A}": { "grant": "boost", "months": 3 } }, "prices": { "${B}": { "grant": "tier", "tier": "pro" } } }`)
  t.equal(refusal(() => loadPriceCatalog(topTwice)).message, `PRICE_CATALOG ${topTwice}: "prices" appears twice in the file: JSON keeps only the last one`)

  const badEntry = file(`{ "prices": { "${A}": { "grant": "boost", "months": 0 } } }`)
  t.equal(refusal(() => loadPriceCatalog(badEntry, 'example catalogue')).message,
    `example catalogue: prices["${A}"].months must be an integer from 1 to 120 (got 0)`, 'a source of the caller\'s choosing')
})

t.test('loading: duplicates are found as JSON reads keys, not as the text spells them', async (t) => {
  // A string value that spells a key: a scanner that lost track of strings would call A a duplicate.
  const decoy = file(`{ "prices": { "${A}": { "grant": "badge", "badgeId": "x\\", \\"${A}\\": {" } } }`)
  t.match(refusal(() => loadPriceCatalog(decoy)).message, /prices\["pri_[a-z0-9]+"\]\.badgeId must be a badge id/)

  // Two spellings of one key: JSON.parse keeps only the second.
  const escaped = file('{ "prices": { "pri_01b\\u0061": { "grant": "tier", "tier": "pro" }, "pri_01ba": { "grant": "boost", "months": 3 } } }')
  t.equal(refusal(() => loadPriceCatalog(escaped)).priceId, 'pri_01ba')

  // The same field in different entries, and arrays of objects, are not duplicates.
  const clean = file(`\ufeff{ "prices": { "${A}": { "grant": "boost", "months": 3 }, "pri_01b\\u0061": { "grant": "tier", "tier": "pro" } } }`)
  const catalog = loadPriceCatalog(clean)
  t.equal(catalog.size, 2, 'a byte-order mark is skipped')
  t.same(catalog.grantOf('pri_01ba'), { grant: 'tier', tier: 'pro' }, 'escapes in keys are decoded')
  const arrays = file('{ "prices": [ { "grant": "boost" }, { "grant": "boost" } ] }')
  t.match(refusal(() => loadPriceCatalog(arrays)).message, /prices must be an object/)
})
