// `npm run events -- list|show|replay ...` (in the image: `node dist/cli/events.js ...`): the operator's
// inbox from a shell, for `kubectl exec`. It builds the same app as the server (same config, same
// services, same LVVER pipeline) without listening, prints JSON on stdout, and logs on stderr.
import { parseArgs } from 'node:util'
import pino from 'pino'
import { buildApp } from '../app.js'
import { loadConfig } from '../config.js'
import { EVENT_STATUSES, type EventStatus } from '../db/schema.js'
import { errorSlug } from '../services/errors.js'
import { REPLAYABLE } from '../services/inbox.js'

const USAGE = `Usage:
  events list   [--status S] [--type T] [--from ISO] [--to ISO] [--limit N] [--cursor C]
  events show   <eventId>
  events replay <eventId>
  events replay --status failed|needs_review|ignored [--type T] [--from ISO] [--to ISO] [--limit N]

The service's environment (DATABASE_URL, REDIS_URL, ...) says where the inbox is. A replay runs the stored
event through the same pipeline as a delivery, under the event's own lock.`

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    status: { type: 'string' },
    type: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  }
})

function fail (message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`)
  process.exit(2)
}

const [command, eventId] = positionals
if (values.help === true || command === undefined) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(command === undefined && values.help !== true ? 2 : 0)
}
if (values.status !== undefined && !EVENT_STATUSES.includes(values.status as EventStatus)) fail(`--status must be one of ${EVENT_STATUSES.join(', ')}`)
if (values.limit !== undefined && !/^[1-9]\d{0,3}$/.test(values.limit)) fail('--limit must be a whole number from 1')
for (const bound of [values.from, values.to]) if (bound !== undefined && Number.isNaN(Date.parse(bound))) fail(`not a date: ${bound}`)
const filter = { status: values.status as EventStatus | undefined, type: values.type, from: values.from, to: values.to }

const app = await buildApp(loadConfig(), { logStream: pino.destination(2) })
let exitCode = 0
try {
  await app.ready()
  let result: unknown
  if (command === 'list') {
    result = await app.inbox.list({ ...filter, limit: Math.min(Number(values.limit ?? 50), 500), cursor: values.cursor })
  } else if (command === 'show' && eventId !== undefined) {
    result = await app.inbox.get(eventId)
    if (result === undefined) { exitCode = 1; result = { error: 'not_found', message: `No event ${eventId} in the inbox` } }
  } else if (command === 'replay') {
    // The embedded database belongs to the running server: a second writer on its files would lose data.
    if (app.database.kind === 'pglite') fail('with the embedded database (no DATABASE_URL), replay through POST /admin/events/:eventId/replay, or stop the service first')
    await waitForLockStore()
    if (eventId !== undefined) {
      result = await app.inbox.replay(eventId)
    } else {
      if (filter.status !== undefined && !REPLAYABLE.includes(filter.status)) fail(`--status must be one of ${REPLAYABLE.join(', ')} for a replay`)
      result = { outcomes: await app.inbox.replayMany({ ...filter, limit: Math.min(Number(values.limit ?? 100), 1000) }) }
    }
  } else {
    fail(`unknown command: ${positionals.join(' ')}`)
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
} catch (err) {
  const error = err as { code?: string, message?: string }
  // The same codes as the HTTP answers: `already_processed`, `not_found`...
  const code = error.code?.startsWith('BW_ERR_') === true ? errorSlug(error.code) : error.code ?? 'error'
  process.stdout.write(`${JSON.stringify({ error: code, message: error.message ?? String(err) })}\n`)
  exitCode = 1
} finally {
  await app.close()
}
process.exit(exitCode)

/** A replay needs the lock store; give a Redis that is just connecting a few seconds. */
async function waitForLockStore (): Promise<void> {
  for (let i = 0; i < 100 && !app.lockStore.isReady(); i++) await new Promise((resolve) => setTimeout(resolve, 50))
  if (!app.lockStore.isReady()) throw Object.assign(new Error('the lock store (Redis) is unavailable: nothing was replayed'), { code: 'service_unavailable' })
}
