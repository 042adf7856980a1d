// `npm run send-sample`, as the README has a new user type it: usage, plain one-line errors, two deliveries.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { freshDatabase } from '../helpers/database.js'
import { TEST_SECRET } from '../helpers/env.js'
import { freePort } from '../helpers/redis-server.js'
import { startServerProcess } from '../helpers/server-process.js'

const root = new URL('../../', import.meta.url).pathname

interface Run { code: number, stdout: string, stderr: string }

/** What `npm run send-sample -- <args>` runs, with only the given environment. */
async function sendSample (args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/send-sample.ts', ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
        resolve({ code, stdout, stderr })
      })
  })
}

t.test('--help prints the usage and exits 0', async (t) => {
  const run = await sendSample(['--help'])
  t.equal(run.code, 0)
  t.match(run.stdout, /^Usage: npm run send-sample \[-- \[--type subscription\|boost\|badge\]/)
  for (const option of ['--type', '--event-id', '--url', '--times', '--help']) t.match(run.stdout, option, `documents ${option}`)
  t.equal(run.stderr, '', 'nothing on stderr')
  t.equal((await sendSample(['-h'])).stdout, run.stdout, '-h too')
})

t.test('a usage error is one line on stderr and exit 2, never a stack trace', async (t) => {
  for (const [args, message] of [
    [['--nope'], "Unknown option '--nope'"],
    [['--type', 'refund'], "--type must be one of subscription, boost, badge, not 'refund'"],
    [['--times', '0'], "--times must be a whole number from 1 to 999, not '0'"],
    [['--url', 'localhost:3000'], "--url must be an http:// or https:// URL such as http://127.0.0.1:3000/billing/webhook, not 'localhost:3000'"],
    [['--url', '/billing/webhook'], "--url must be an http:// or https:// URL such as http://127.0.0.1:3000/billing/webhook, not '/billing/webhook'"]
  ] as const) {
    const run = await sendSample([...args])
    t.equal(run.code, 2, `${args.join(' ')}: exit 2`)
    t.equal(run.stderr, `send-sample: ${message} (see npm run send-sample -- --help)\n`, `${args.join(' ')}: one line`)
  }
})

t.test('no secret, no usable catalogue, or no service: one line saying what to do, exit 1', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'bw-sample-'))
  t.teardown(() => { rmSync(empty, { recursive: true, force: true }) })
  const noSecret = await sendSample([], { DATA_DIR: empty })
  t.equal(noSecret.code, 1)
  t.equal(noSecret.stderr, `send-sample: no PADDLE_WEBHOOK_SECRET and no ${empty}/dev-webhook-secret: start the service first (npm start) or set the secret\n`)

  const badCatalog = await sendSample([], { PADDLE_WEBHOOK_SECRET: TEST_SECRET, PRICE_CATALOG: join(empty, 'missing.json') })
  t.equal(badCatalog.code, 1)
  t.equal(badCatalog.stderr, `send-sample: PRICE_CATALOG ${empty}/missing.json: cannot be read (ENOENT)\n`)

  const url = `http://127.0.0.1:${await freePort()}/billing/webhook`
  const noService = await sendSample(['--url', url], { PADDLE_WEBHOOK_SECRET: TEST_SECRET })
  t.equal(noService.code, 1)
  t.match(noService.stderr, new RegExp(`^send-sample: could not reach ${url}: connect ECONNREFUSED .*\\(is the service running\\? npm start\\)\\n$`))
})

t.test('against the running service: processed, then duplicate', async (t) => {
  const database = await freshDatabase(t)
  const server = await startServerProcess(t, { DATABASE_URL: database.url })
  const run = await sendSample([], { PADDLE_WEBHOOK_SECRET: TEST_SECRET, PORT: String(server.port) })
  t.equal(run.code, 0, run.stderr)
  const lines = run.stdout.trim().split('\n')
  t.match(lines, [
    /^delivery 1: 200 \{"status":"processed","eventId":"evt_[0-9a-f]+"\}$/,
    /^delivery 2: 200 \{"status":"duplicate","eventId":"evt_[0-9a-f]+"\}$/
  ])
  t.equal(lines.length, 2, 'two deliveries')
})
