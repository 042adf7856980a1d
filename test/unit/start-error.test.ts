import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { DrizzleQueryError } from 'drizzle-orm'
import t from 'tap'
import { startErrorLine } from '../../services/start-error.js'

function scratch (t: { teardown(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bw-start-error-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/** What PGlite really throws when its directory is unusable: not an Error, a bare `{ name, errno }`. */
async function pgliteThrows (dataDir: string): Promise<unknown> {
  try {
    const db = await PGlite.create(dataDir)
    await db.close()
  } catch (err) {
    return err
  }
  throw new Error('PGlite opened a directory it should have refused')
}

t.test("PGlite's ErrnoError, a plain object, becomes a line naming the file-system error", async (t) => {
  const file = join(scratch(t), 'not-a-directory')
  writeFileSync(file, 'x')
  const thrown = await pgliteThrows(file)
  t.notOk(thrown instanceof Error, 'PGlite throws something that is not an Error')
  t.equal(String(thrown), '[object Object]', 'which is why the start used to print [object Object]')
  t.equal(startErrorLine(thrown), 'file system error ENOTDIR (PGlite ErrnoError, errno 54)')
  t.equal(startErrorLine({ name: 'ErrnoError', errno: 2 }), 'file system error EACCES (PGlite ErrnoError, errno 2)')
  t.equal(startErrorLine({ name: 'ErrnoError', errno: 9999 }), 'ErrnoError with errno 9999', 'an unknown errno is still shown')
})

t.test("drizzle's wrapped error: its first line, then the cause, never the parameters", async (t) => {
  const cause = Object.assign(new Error('relation "boosts" does not exist'), { code: '42P01' })
  const wrapped = new DrizzleQueryError('select "id"\nfrom "boosts" where "member_id" = $1', ['member-secret-value'], cause)
  t.equal(startErrorLine(wrapped), 'Failed query: select "id": relation "boosts" does not exist')
  t.notMatch(startErrorLine(wrapped), /member-secret-value/, 'no parameter')
})

t.test('Error and its causes, AggregateError, codes without messages', async (t) => {
  t.equal(startErrorLine(new Error('connect ECONNREFUSED 127.0.0.1:1')), 'connect ECONNREFUSED 127.0.0.1:1')
  t.equal(startErrorLine(new Error('migration failed', { cause: new Error('lock timeout') })), 'migration failed: lock timeout')
  t.equal(startErrorLine(new Error('x refused', { cause: new Error('refused') })), 'x refused', 'a cause that repeats the message adds nothing')
  const refused = (address: string) => Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED' })
  // What Node's connect to `localhost` throws when both ::1 and 127.0.0.1 refuse: an empty message.
  const aggregate = Object.assign(new AggregateError([refused('::1:5432'), refused('127.0.0.1:5432')], ''), { code: 'ECONNREFUSED' })
  t.equal(startErrorLine(aggregate), 'connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432')
  t.equal(startErrorLine(Object.assign(new Error(''), { code: 'EADDRINUSE' })), 'EADDRINUSE')
  t.equal(startErrorLine(Object.assign(new TypeError(''), { code: 'ERR_X' })), 'TypeError ERR_X')
  t.equal(startErrorLine(new RangeError()), 'RangeError (no message)')
  t.equal(startErrorLine(new Error('first line\n    at somewhere (file.js:1:1)')), 'first line', 'one line, never a stack')
})

t.test('strings, null, undefined, numbers and odd objects each give one readable line', async (t) => {
  t.equal(startErrorLine('plain words'), 'plain words')
  t.equal(startErrorLine('\n\n  second line first\nthird'), 'second line first')
  t.equal(startErrorLine(''), 'an empty string was thrown')
  t.equal(startErrorLine(null), 'null was thrown')
  t.equal(startErrorLine(undefined), 'undefined was thrown')
  t.equal(startErrorLine(42), '42 was thrown')
  t.equal(startErrorLine(Symbol('start')), 'Symbol(start) was thrown')
  t.equal(startErrorLine({}), 'an empty object was thrown')
  t.equal(startErrorLine(Object.create(null)), 'an empty object was thrown')
  t.equal(startErrorLine({ message: 'an object with a message' }), 'an object with a message')
  t.equal(startErrorLine({ code: 'E_SOMETHING' }), 'E_SOMETHING')
  t.equal(startErrorLine({ password: 'hunter2', host: 'db' }), 'Object without a message (keys: password, host)', 'keys, never values')
  const loop: { name: string, cause?: unknown } = { name: 'Loop' }
  loop.cause = loop
  t.equal(startErrorLine(loop), 'Loop (no message)', 'a cause cycle ends')
  const hostile = new Proxy({}, { get () { throw new Error('trap') }, ownKeys () { throw new Error('trap') } })
  t.equal(startErrorLine(hostile), 'an object that could not be read', 'never throws itself')
  const long = startErrorLine(new Error('x'.repeat(5000)))
  t.ok(long.length <= 600 && long.endsWith('…'), `capped (${long.length} characters)`)
})
