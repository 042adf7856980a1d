// The statement catalogue: one name always means one SQL text. Postgres keeps a named statement per
// connection and refuses a second text under a name it knows, so a name must never drift between texts,
// and every parameter a text uses must be one the catalogue binds by name. (db.test.ts prepares every
// text on the migrated schema, in Postgres and in PGlite.)
import t from 'tap'
import { statements, type Statement } from '../../db/statements.js'

const entries = Object.entries(statements) as Array<[string, Statement]>
const snake = (key: string): string => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)

t.test('names are unique across the catalogue, each the bw_ prefix and its key', async (t) => {
  t.ok(entries.length >= 20, `${entries.length} statements`)
  const names = entries.map(([, statement]) => statement.name)
  t.equal(new Set(names).size, names.length, 'no two statements share a name')
  for (const [key, statement] of entries) {
    t.equal(statement.name, `bw_${snake(key)}`, `${key} is named after its key`)
    t.ok(statement.name.length <= 63, `${statement.name} fits Postgres's identifier length`)
  }
  const texts = entries.map(([, statement]) => statement.text)
  t.equal(new Set(texts).size, texts.length, 'no text is listed twice under two names')
})

t.test('each text is stable: built the same way on every load, one line, no stray whitespace', async (t) => {
  const url = new URL('../../db/statements.ts', import.meta.url)
  const again = (await import(`${url.href}?fresh=${Date.now()}`) as { statements: typeof statements }).statements
  t.not(again, statements, 'a second, independent load of the module')
  for (const [key, statement] of entries) {
    const other = (again as Record<string, Statement>)[key]
    t.same(other, statement, `${key}: the same name, text and parameters`)
    t.notMatch(statement.text, /\n|\s{2}|^\s|\s$/, `${key}: whitespace collapsed`)
  }
  t.same(Object.keys(again).sort(), Object.keys(statements).sort(), 'and the same names')
})

t.test('every $n in a text is one of its parameters, and every parameter appears', async (t) => {
  for (const [key, statement] of entries) {
    t.equal(new Set(statement.params).size, statement.params.length, `${key}: parameter names are unique`)
    for (const param of statement.params) t.match(param, /^[a-z][a-z_]*$/, `${key}: ${param} is a plain name`)
    const used = new Set([...statement.text.matchAll(/\$(\d+)/g)].map((match) => Number(match[1])))
    const declared = new Set(statement.params.map((_, i) => i + 1))
    t.same([...used].filter((n) => !declared.has(n)), [], `${key}: no placeholder beyond its ${statement.params.length} parameters`)
    t.same([...declared].filter((n) => !used.has(n)), [], `${key}: every parameter is used`)
  }
})

t.test('every write of an event is gated by its record: the rec CTE, and every other write reads from rec', async (t) => {
  const gated = ['eventRecord', 'subscriptionSnapshot', 'subscriptionPayment', 'boostPurchase', 'badgePurchase'] as const
  for (const key of gated) {
    const { text } = statements[key]
    t.match(text, /rec as \( insert into webhook_events as e .* on conflict \(event_id\) do update .* where e\.status = any \(\$\d+::text\[\]\) returning e\.status, e\.reason \)/,
      `${key}: the record inserts, or reopens only a status listed in reopen`)
    t.notMatch(text, /on conflict \(event_id\) do nothing/, `${key}: a conflict is decided by status, not ignored`)
    for (const write of text.matchAll(/(\w+) as \( (insert|update)/g)) {
      if (write[1] === 'rec') continue
      // The CTE's own text: up to the next CTE, or the final select.
      const body = text.slice(write.index)
      const end = body.search(/\), \w+ as \(| \) select status, reason from rec$/)
      t.ok(end > 0, `${key}: ${write[1]} ends where it should`)
      t.match(body.slice(0, end), /from rec[ ,]|exists \(select 1 from rec /, `${key}: ${write[1]} writes only when rec returned a row`)
    }
    t.match(text, /select status, reason from rec$/, `${key}: answers what the record says, nothing when it wrote nothing`)
  }
  t.match(statements.idempotencyClaim.text, /on conflict \(key\) do nothing returning key$/, 'a key is claimed without raising on a duplicate either')
})
