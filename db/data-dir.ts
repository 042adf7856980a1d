// Checks that PGlite's directory can be written before PGlite opens it. PGlite's own failure is an
// ErrnoError with a bare errno; the commonest cause, a bind mount owned by root while the image runs as
// uid 1000, deserves a message that names the directory, the uid and the fix.
import { accessSync, constants, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'

export class DataDirError extends Error {
  override name = 'DataDirError'
}

/** Creates DATA_DIR if needed and proves it writable, inside as well; throws DataDirError saying what to do. */
export function ensureWritableDataDir (dataDir: string): void {
  const dir = resolve(dataDir)
  try {
    mkdirSync(dir, { recursive: true })
    rmSync(mkdtempSync(join(dir, '.write-check-')), { recursive: true, force: true })
  } catch (err) {
    throw new DataDirError(unwritableMessage(dir, err))
  }
  // A directory once used by another uid (the image run as root, then as 1000) is writable at the top
  // but not inside, where PGlite reads and writes its files.
  for (const entry of readdirSync(dir)) {
    try {
      accessSync(join(dir, entry), constants.R_OK | constants.W_OK)
    } catch (err) {
      throw new DataDirError(unwritableMessage(dir, err, entry))
    }
  }
}

function unwritableMessage (dir: string, err: unknown, entry?: string): string {
  const uid = process.getuid?.()
  const who = uid === undefined ? 'this process' : `uid ${uid}`
  const { code, message } = err as NodeJS.ErrnoException
  const stat = statOf(entry === undefined ? dir : join(dir, entry))
  const owner = stat === undefined ? '' : ` (owned by uid ${stat.uid}, mode ${(stat.mode & 0o777).toString(8)})`
  const what = entry === undefined ? `DATA_DIR ${dir}${owner}` : `DATA_DIR ${dir} holds ${entry}${owner}, which`
  // What exists says it all with its owner; a directory that could not be created needs the path that refused.
  const detail = stat !== undefined || message === undefined ? code : message
  const alternative = 'or set DATABASE_URL to use Postgres'
  if (code === 'EACCES' || code === 'EPERM') {
    const fix = uid === undefined
      ? 'give this process write access to it'
      : stat?.uid === uid ? `make it writable (chmod -R u+rwX ${dir})` : `chown it to uid ${uid} (chown -R ${uid} ${dir})`
    return `${what} is not writable by ${who} (${detail}): ${fix} or mount a writable volume there, ${alternative}`
  }
  if (code === 'EROFS') return `${what} is on a read-only file system (${who}): mount a writable volume there, ${alternative}`
  return `${what} cannot be used by ${who} (${message ?? String(err)}): point DATA_DIR at a writable directory, ${alternative}`
}

/** The owner and mode of what exists: a mismatch with the process's uid is the clue. */
function statOf (path: string): { uid: number, mode: number } | undefined {
  try {
    return statSync(path)
  } catch {
    return undefined
  }
}
