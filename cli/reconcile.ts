// `npm run reconcile [-- --since <date>]` (in the image: `node dist/cli/reconcile.js ...`): one reconciliation
// pass now, from a shell. It builds the same app as the server without listening or scheduling passes, runs
// one, prints its summary as JSON on stdout, and logs on stderr.
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'

const USAGE = `Usage:
  reconcile                  one pass from the stored cursor, as the timer runs it
  reconcile --since <date>   one pass from the start of Paddle's event log (90 days), applying every event since
                             <date> (2026-11-20, 2026-11-20T14:00:00Z) that the inbox has not settled; the
                             cursor never moves back

The service's environment (PADDLE_API_KEY, PADDLE_API_URL, DATABASE_URL, REDIS_URL, ...) says where to read and
write. Exit status: 0 every event read is settled; 3 some were left for a later pass (see "failed"); 1 no pass
(another replica is running one, or Paddle could not be read); 2 a usage error.`

function fail (message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`)
  process.exit(2)
}

let values: { since?: string | undefined, help?: boolean | undefined }
try {
  values = parseArgs({ options: { since: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values
} catch (err) {
  fail(err instanceof Error ? err.message : String(err))
}
if (values.help === true) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}
const since = values.since === undefined ? undefined : new Date(values.since)
if (since !== undefined && Number.isNaN(since.getTime())) fail(`--since ${JSON.stringify(values.since)} is not a date`)
if (since !== undefined && since.getTime() > Date.now()) fail('--since is in the future')

// No timer in this process: it runs exactly one pass, below.
const config = { ...loadConfig(), reconcileIntervalSeconds: 0 }
if (config.paddleApiKey === undefined) fail('PADDLE_API_KEY is not set: there is no event log to reconcile with')
// The embedded database belongs to the running server: a second writer on its files would lose data.
if (config.databaseUrl === undefined) fail('with the embedded database (no DATABASE_URL), run a pass through POST /admin/reconcile')
// Loaded once the arguments are known good, so that a mistyped one is answered at once.
const [{ buildApp }, { default: pino }] = await Promise.all([import('../app.js'), import('pino')])
const app = await buildApp(config, { logStream: pino.destination(2) })
let exitCode = 1
try {
  await app.ready()
  const reconciler = app.reconciler
  if (reconciler === null) throw new Error('no reconciler')
  // The pass runs events through the lock: give a Redis that is just connecting a few seconds.
  for (let i = 0; i < 100 && !app.lockStore.isReady(); i++) await sleep(50)
  // Ctrl-C stops the pass between two events and gives the lease back, rather than leaving it to expire.
  const stop = () => { reconciler.stop().catch(() => {}) }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const run = await reconciler.runOnce(since !== undefined ? { since } : {})
  if (!run.ran) {
    process.stdout.write(`${JSON.stringify({ error: 'reconcile_running', message: 'Another replica is running a reconciliation pass; try again when it ends.' })}\n`)
  } else {
    const { summary, caughtUp, error, interrupted } = run.report
    process.stdout.write(`${JSON.stringify({
      ...summary,
      caughtUp,
      ...(error !== undefined ? { error: 'reconcile_failed', message: error instanceof Error ? error.message : String(error) } : {})
    }, null, 2)}\n`)
    exitCode = error !== undefined ? 1 : summary.failed > 0 || interrupted ? 3 : 0
  }
} catch (err) {
  // Postgres unreachable, most likely: said on stdout like every other answer, the details on stderr.
  app.log.error({ err }, 'reconcile failed')
  process.stdout.write(`${JSON.stringify({ error: 'reconcile_failed', message: err instanceof Error ? err.message : String(err) })}\n`)
} finally {
  await app.close()
}
process.exit(exitCode)
