// `npm run bench [-- --soak] [-- --only unique,duplicate]`
//
// Method: `npm run build`, then one server process (NODE_ENV=production, LOG_LEVEL=warn, BENCH_ROUTES=1)
// against real Postgres (a fresh database, dropped at the end) and real Redis (a key prefix of its own),
// driven by autocannon in this process: 50 connections, ~1 KB bodies, a warm-up, then a fixed duration per
// scenario. The load generator and the server share the machine's cores, as in the brief's figures.
// Ceilings come from the same server and run: a route that does nothing, one that takes and releases one
// Redis lease, one that does one Postgres insert. A second server whose REDIS_URL points at a closed
// port measures the fail-closed 503 path. `--soak` adds 100,000 unique events and reports the server's RSS.
// Results: a markdown table on stdout and bench/results.json.
// Environment: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, 3), BENCH_CONNECTIONS (50),
// BENCH_DATABASE_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres),
// BENCH_REDIS_URL (redis://127.0.0.1:6379), DATABASE_POOL_SIZE (20), BENCH_NODE_ARGS (e.g. --cpu-prof for the server).
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import pg from 'pg'
import { signPaddleBody } from '../services/paddle/signature.js'

const { values: args } = parseArgs({
  options: { soak: { type: 'boolean', default: false }, only: { type: 'string' } }
})
const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const SECRET = 'pdl_ntfset_bench_secret'
const root = new URL('../', import.meta.url)

async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')) })
    })
  })
}

interface Server { url: string, child: ChildProcess, pid: number }

async function startServer (env: Record<string, string>): Promise<Server> {
  const port = await freePort()
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []
  const child = spawn(process.execPath, [...nodeArgs, 'dist/server.js'], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: String(port), PADDLE_WEBHOOK_SECRET: SECRET, BENCH_ROUTES: '1', ...env },
    stdio: ['ignore', 'inherit', 'inherit']
  })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/health/ready`)).ok && (await fetch(`${url}/health/security`)).status !== 0) return { url, child, pid: child.pid ?? 0 }
    } catch {}
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`)
    await sleep(100)
  }
  throw new Error('server did not become ready')
}

async function stopServer (server: Server): Promise<void> {
  if (server.child.exitCode !== null) return
  const exited = new Promise((resolve) => server.child.once('exit', resolve))
  server.child.kill('SIGTERM')
  await exited
}

const rssMiB = (pid: number): number => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match?.[1] !== undefined ? Math.round(Number(match[1]) / 1024) : NaN
}

// A boost purchase in Paddle's shape, padded with realistic line items to about 1 KB.
function eventBody (eventId: string): string {
  return JSON.stringify({
    event_id: eventId,
    event_type: 'transaction.completed',
    occurred_at: new Date().toISOString(),
    notification_id: `ntf_${eventId.slice(4)}`,
    data: {
      id: `txn_${eventId.slice(4)}`,
      status: 'completed',
      customer_id: 'ctm_01hv8wxyz0000000000000000',
      subscription_id: null,
      currency_code: 'USD',
      origin: 'web',
      collection_mode: 'automatic',
      custom_data: { type: 'boost_purchase', community_id: 'community_bench', member_id: 'member_bench', months: 3 },
      items: [{ price: { id: 'pri_01hv8boost3months00000000', description: 'Community boost, 3 months', unit_price: { amount: '1500', currency_code: 'USD' } }, quantity: 1 }],
      details: {
        totals: { subtotal: '1500', tax: '0', discount: '0', total: '1500', grand_total: '1500', fee: '120', earnings: '1380', currency_code: 'USD' },
        line_items: [{ id: 'txnitm_01hv8wxyz00000000000000', price_id: 'pri_01hv8boost3months00000000', quantity: 1, totals: { subtotal: '1500', tax: '0', discount: '0', total: '1500' }, product: { id: 'pro_01hv8boost0000000000000', name: 'Boost' } }]
      },
      payments: [{ payment_attempt_id: '1f2e3d4c-0000-4000-8000-000000000000', amount: '1500', status: 'captured', method_details: { type: 'card', card: { type: 'visa', last4: '4242', expiry_month: 1, expiry_year: 2030 } } }],
      billed_at: new Date().toISOString()
    }
  })
}

const newEventId = (): string => `evt_01${randomBytes(12).toString('hex')}`

interface Row {
  scenario: string
  rps: number
  p50: number
  p99: number
  errors: number
  non2xx: number
  requests: number
}

async function run (scenario: string, options: autocannon.Options, record = true): Promise<Row> {
  if (WARMUP > 0 && record) await autocannon({ ...options, duration: WARMUP })
  const result = await autocannon({ connections: CONNECTIONS, duration: DURATION, ...options })
  const row = {
    scenario,
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    requests: result.requests.total
  }
  process.stderr.write(`${scenario}: ${row.rps} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, errors ${row.errors}, non-2xx ${row.non2xx}\n`)
  return row
}

const jsonPost = (base: string, path: string, body: string): autocannon.Options =>
  ({ url: `${base}${path}`, method: 'POST', headers: { 'content-type': 'application/json' }, body })

const signedRequest = (): autocannon.Request => {
  const body = eventBody(newEventId())
  return { method: 'POST', path: '/billing/webhook', body, headers: { 'content-type': 'application/json', 'paddle-signature': signPaddleBody(body, SECRET) } }
}

const dbName = `bw_bench_${Date.now()}`
const admin = new pg.Client({ connectionString: ADMIN_URL })
await admin.connect()
await admin.query(`create database ${dbName}`)
const databaseUrl = new URL(ADMIN_URL)
databaseUrl.pathname = `/${dbName}`
const baseEnv = {
  DATABASE_URL: databaseUrl.toString(),
  REDIS_URL,
  REDIS_KEY_PREFIX: `bwbench:${Date.now()}:`,
  ...(process.env.DATABASE_POOL_SIZE !== undefined ? { DATABASE_POOL_SIZE: process.env.DATABASE_POOL_SIZE } : {})
}
const only = args.only?.split(',')
const wanted = (name: string): boolean => only === undefined || only.includes(name)
const rows: Row[] = []
const soak: Record<string, number> = {}
let server: Server | undefined
let downServer: Server | undefined
try {
  server = await startServer(baseEnv)
  const { url } = server
  const filler = eventBody(newEventId())
  if (wanted('noop')) rows.push(await run('ceiling: no-op route', jsonPost(url, '/bench/noop', filler)))
  if (wanted('redis')) rows.push(await run('ceiling: one Redis lock + unlock', jsonPost(url, '/bench/redis-lock', filler)))
  if (wanted('insert')) rows.push(await run('ceiling: one Postgres insert', jsonPost(url, '/bench/pg-insert', filler)))
  if (wanted('unique')) rows.push(await run('webhook: unique events', { url, requests: [{ setupRequest: signedRequest }] }))
  if (wanted('duplicate')) {
    const body = eventBody(newEventId())
    const headers = { 'content-type': 'application/json', 'paddle-signature': signPaddleBody(body, SECRET) }
    const first = await fetch(`${url}/billing/webhook`, { method: 'POST', headers, body })
    if (first.status !== 200) throw new Error(`priming the duplicate storm answered ${first.status}`)
    // The signature's ts must stay within tolerance for the whole storm: it does (300 s).
    rows.push(await run('webhook: duplicate storm', { url: `${url}/billing/webhook`, method: 'POST', headers, body }))
  }
  if (wanted('down')) {
    downServer = await startServer({ ...baseEnv, REDIS_URL: `redis://127.0.0.1:${await freePort()}` })
    rows.push(await run('webhook: Redis down (503)', { url: downServer.url, requests: [{ setupRequest: signedRequest }] }))
    await stopServer(downServer)
  }
  if (args.soak) {
    soak.rssStartMiB = rssMiB(server.pid)
    const row = await run('soak: 100,000 unique events', { url, amount: 100_000, duration: undefined as unknown as number, requests: [{ setupRequest: signedRequest }] }, false)
    rows.push(row)
    soak.rssEndMiB = rssMiB(server.pid)
    soak.rssGrowthPercent = Math.round((soak.rssEndMiB / soak.rssStartMiB - 1) * 1000) / 10
  }
} finally {
  if (downServer !== undefined) await stopServer(downServer)
  if (server !== undefined) await stopServer(server)
  await admin.query(`drop database if exists ${dbName} with (force)`)
  await admin.end()
}

const find = (prefix: string) => rows.find((row) => row.scenario.startsWith(prefix))
const ratio = (a?: Row, b?: Row) => a !== undefined && b !== undefined ? Math.round((a.rps / b.rps) * 100) / 100 : undefined
const ratios = {
  uniqueOverInsert: ratio(find('webhook: unique'), find('ceiling: one Postgres')),
  duplicateOverRedis: ratio(find('webhook: duplicate'), find('ceiling: one Redis'))
}
const machine = { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadavg: loadavg().map((l) => Math.round(l * 100) / 100) }
writeFileSync(new URL('results.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), machine, durationSeconds: DURATION, connections: CONNECTIONS, rows, ratios, soak }, null, 2))

const lines = [
  '| scenario | req/s | p50 ms | p99 ms | errors | non-2xx |',
  '|---|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.scenario} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.non2xx} |`),
  '',
  `unique / one-insert ceiling: ${ratios.uniqueOverInsert ?? 'n/a'} (target ≥ 0.7); duplicate / one-Redis ceiling: ${ratios.duplicateOverRedis ?? 'n/a'} (target ≥ 0.8)`
]
if (soak.rssStartMiB !== undefined) lines.push(`RSS over 100,000 unique events: ${soak.rssStartMiB} MiB → ${soak.rssEndMiB} MiB (${soak.rssGrowthPercent} %; target < 20 %)`)
lines.push(`${machine.cpus} × ${machine.model}, Node ${machine.node}, ${CONNECTIONS} connections, ${DURATION} s per scenario, load average at the end ${machine.loadavg.join(' ')}`)
console.log(lines.join('\n'))
