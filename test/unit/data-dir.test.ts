// The DATA_DIR check in-process: what every uid can meet. EACCES, which root never meets, is in
// test/integration/start-errors.test.ts, where the service runs as uid 1000.
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { DataDirError, ensureWritableDataDir } from '../../db/data-dir.js'

function scratch (t: { teardown(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bw-data-dir-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

t.test('DATA_DIR check: created when missing, left without a trace of the check', async (t) => {
  const dir = join(scratch(t), 'nested', 'data')
  ensureWritableDataDir(dir)
  t.ok(statSync(dir).isDirectory(), 'created')
  t.same(readdirSync(dir), [], 'the probe is removed')
  ensureWritableDataDir(dir)
  t.pass('a second call on the existing directory passes')
})

t.test('DATA_DIR check: a path through a regular file names the directory, the uid and the way out', async (t) => {
  const file = join(scratch(t), 'file')
  writeFileSync(file, 'x')
  const uid = process.getuid?.()
  t.throws(() => { ensureWritableDataDir(join(file, 'data')) }, new DataDirError(
    `DATA_DIR ${file}/data cannot be used by uid ${uid} (ENOTDIR: not a directory, mkdir '${file}/data'): ` +
    'point DATA_DIR at a writable directory, or set DATABASE_URL to use Postgres'))
  t.throws(() => { ensureWritableDataDir(file) }, { name: 'DataDirError', message: new RegExp(`^DATA_DIR ${file} \\(owned by uid \\d+, mode 644\\) cannot be used by uid ${uid} \\(EEXIST`) })
})
