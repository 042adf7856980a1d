// `npm run reconcile -- --since <date>` (cli/reconcile.ts): one pass from the command line, with the service's configuration.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { freshDatabase } from '../helpers/database.js'
import { SHARED_REDIS_URL, TEST_SECRET } from '../helpers/env.js'
import { count } from '../helpers/lvver.js'
import { startPaddleApi } from '../helpers/paddle-api.js'
import { inboxRows, logEvent, storedCursor, TEST_PADDLE_KEY } from '../helpers/reconcile.js'

const HOUR = 3600_000
const root = new URL('../../', import.meta.url).pathname

interface Run { code: number, stdout: string, stderr: string }

function reconcileCli (args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'cli/reconcile.ts', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', PADDLE_WEBHOOK_SECRET: TEST_SECRET, LOG_LEVEL: 'info', ...env },
      timeout: 60_000
    }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr })
    })
  })
}

t.test('the CLI runs one pass from a date and prints what it found', async (t) => {
  const api = await startPaddleApi(t, { keys: [TEST_PADDLE_KEY] })
  const database = await freshDatabase(t)
  const now = Date.now()
  const events = [6, 5, 3, 2].map((hours) => logEvent('transaction.completed', now - hours * HOUR))
  api.add(...events)
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL: SHARED_REDIS_URL,
    REDIS_KEY_PREFIX: `bwtest:${process.pid}:${randomBytes(3).toString('hex')}:`,
    PADDLE_API_KEY: TEST_PADDLE_KEY,
    PADDLE_API_URL: api.url
  }

  const run = await reconcileCli(['--since', new Date(now - 4 * HOUR).toISOString()], env)
  t.equal(run.code, 0, 'exit status 0: every event settled')
  t.same(JSON.parse(run.stdout) as unknown, {
    pages: 1, seen: 4, processed: 2, duplicate: 0, ignored: 0, needsReview: 0, failed: 0, skipped: 2, invalid: 0, cursor: events[3]?.event_id, caughtUp: true
  })
  const rows = await inboxRows(database)
  t.same([...rows.keys()].sort(), events.slice(2).map((event) => event.event_id).sort(), 'only the events since the date')
  t.equal(rows.get(events[2]?.event_id ?? '')?.source, 'reconcile')
  t.equal(await count(database, 'boosts'), 2)
  t.equal(await storedCursor(database), events[3]?.event_id)
  const [state] = await database.query<{ lease_owner: string | null }>('select lease_owner from reconcile_state')
  t.equal(state?.lease_owner, null, 'the CLI gave the lease back')
  t.notOk(run.stdout.includes(TEST_PADDLE_KEY) || run.stderr.includes(TEST_PADDLE_KEY), 'the key is printed nowhere')

  api.keys.clear()
  const refused = await reconcileCli([], env)
  t.equal(refused.code, 1, 'a refused key exits 1')
  t.match(JSON.parse(refused.stdout), { pages: 0, error: 'reconcile_failed', message: 'Paddle rejected PADDLE_API_KEY (403 invalid_token)' })
  t.match(refused.stderr, /Paddle rejected PADDLE_API_KEY/)
  t.notOk(refused.stderr.includes(TEST_PADDLE_KEY))
})

t.test('the CLI refuses a bad date, and says so when PADDLE_API_KEY is unset', async (t) => {
  const bad = await reconcileCli(['--since', 'last tuesday'], {})
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--since "last tuesday" is not a date\n\nUsage:/)
  const unset = await reconcileCli([], {})
  t.equal(unset.code, 2)
  t.match(unset.stderr, /PADDLE_API_KEY is not set/)
  const embedded = await reconcileCli([], { PADDLE_API_KEY: TEST_PADDLE_KEY })
  t.equal(embedded.code, 2, 'never a second writer on the embedded database')
  t.match(embedded.stderr, /embedded database/)
})
