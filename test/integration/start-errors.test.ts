// A start that fails says so in one plain line and exits 1: the container path's first failures.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { freshDatabase } from '../helpers/database.js'
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js'

/** The lines that are not pino JSON: what a person reads. */
function plainLines (server: ServerProcess): string[] {
  return server.lines.filter((line) => !line.startsWith('{'))
}

t.test('an unwritable DATA_DIR: exit 1 with one line naming the directory, the uid and the fix', async (t) => {
  // A bind mount the container's uid 1000 cannot write: a directory owned by root, mode 755. Root writes
  // anywhere, so a root test runs the service as uid 1000 (as the image does); any other user meets the
  // same EACCES on a directory made read-only for it.
  const parent = mkdtempSync(join(tmpdir(), 'bw-data-'))
  t.teardown(() => { rmSync(parent, { recursive: true, force: true }) })
  chmodSync(parent, 0o755)
  const dataDir = join(parent, 'data')
  mkdirSync(dataDir, { mode: 0o755 })
  const asRoot = process.getuid?.() === 0
  const uid = asRoot ? 1000 : process.getuid?.()
  if (!asRoot) chmodSync(dataDir, 0o555)

  const server = await startServerProcess(t, { DATA_DIR: dataDir }, { waitReady: false, ...(asRoot ? { uid: 1000 } : {}) })
  t.equal(await server.exited, 1, 'exit code 1')
  const found = asRoot ? 'owned by uid 0, mode 755' : `owned by uid ${uid}, mode 555`
  const fix = asRoot ? `chown it to uid 1000 (chown -R 1000 ${dataDir})` : `make it writable (chmod -R u+rwX ${dataDir})`
  t.same(plainLines(server), [
    `Could not start: DATA_DIR ${dataDir} (${found}) is not writable by uid ${uid} (EACCES): ` +
    `${fix} or mount a writable volume there, or set DATABASE_URL to use Postgres`
  ], 'one readable line')
  t.notMatch(server.lines.join('\n'), /\[object Object\]|ErrnoError|\n\s+at /, 'no [object Object], no ErrnoError, no stack trace')
})

t.test('a DATA_DIR used before by another uid: the line names the entry it cannot write', async (t) => {
  // The image run once as root, then as uid 1000: the top is writable, PGlite's files inside are not.
  const dataDir = mkdtempSync(join(tmpdir(), 'bw-data-'))
  t.teardown(() => { rmSync(dataDir, { recursive: true, force: true }) })
  const asRoot = process.getuid?.() === 0
  const uid = asRoot ? 1000 : process.getuid?.()
  mkdirSync(join(dataDir, 'base'), { mode: 0o700 })
  if (asRoot) chownSync(dataDir, 1000, 1000)
  else chmodSync(join(dataDir, 'base'), 0o500)

  const server = await startServerProcess(t, { DATA_DIR: dataDir }, { waitReady: false, ...(asRoot ? { uid: 1000 } : {}) })
  t.equal(await server.exited, 1, 'exit code 1')
  const found = asRoot ? 'owned by uid 0, mode 700' : `owned by uid ${uid}, mode 500`
  const fix = asRoot ? `chown it to uid 1000 (chown -R 1000 ${dataDir})` : `make it writable (chmod -R u+rwX ${dataDir})`
  t.same(plainLines(server), [
    `Could not start: DATA_DIR ${dataDir} holds base (${found}), which is not writable by uid ${uid} (EACCES): ` +
    `${fix} or mount a writable volume there, or set DATABASE_URL to use Postgres`
  ], 'one readable line')
})

t.test('the port already taken: exit 1 with one line naming the address', async (t) => {
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { taken.close() })
  const address = taken.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const database = await freshDatabase(t)

  const server = await startServerProcess(t, { DATABASE_URL: database.url, PORT: String(port) }, { waitReady: false })
  t.equal(await server.exited, 1, 'exit code 1')
  t.same(plainLines(server), [`Could not start: listen EADDRINUSE: address already in use 127.0.0.1:${port}`], 'one readable line')
  t.notMatch(server.lines.join('\n'), /\n\s+at |"stack"/, 'no stack trace')
})
