// `npm run bench [-- --no-soak] [-- --only noop,redis,insert,unique,duplicate,down,replay-storm,bulk-replay,soak] [-- --pool-sizes 5,10,20]
//   [-- --via pgbouncer,unnamed|none]`
//
// What it measures: the cost of LVVER's safety, each figure beside its ceiling from the same run.
//
// Method
// - `npm run build`, then the built server (`dist/server.js`) as a separate process: NODE_ENV=bench (production
//   refuses BENCH_ROUTES; nothing else reads NODE_ENV), PADDLE_WEBHOOK_SECRET set, the example catalogue as
//   PRICE_CATALOG, LOG_LEVEL=warn (no per-request log line), BENCH_ROUTES=1. Real Postgres: a
//   fresh database `bw_bench_<ts>` made from BENCH_DATABASE_URL (an admin URL, default
//   postgres://postgres@127.0.0.1:5432/postgres) and dropped at the end, also on Ctrl-C. Real Redis:
//   BENCH_REDIS_URL (default redis://127.0.0.1:6379) under a key prefix of this run's own, so nothing
//   collides with other users of that Redis; markers live 1 h (PROCESSED_TTL_SECONDS), and the run deletes
//   its keys at the end (SCAN + UNLINK under its prefix).
// - autocannon, as a library in this process: BENCH_CONNECTIONS (50) connections, bodies of about 1 KB,
//   a BENCH_WARMUP (3 s) warm-up at the same concurrency, then BENCH_DURATION (10 s) measured per scenario.
//   The load generator, the server, Postgres and Redis share the machine's cores.
// - Scenarios, all against one server process:
//   ceilings: `POST /bench/noop` (parse 1 KB of JSON, answer), `POST /bench/redis-lock` (SET NX PX, then
//   the compare-and-delete script), `POST /bench/pg-insert` (one autocommitted insert of the body);
//   `POST /billing/webhook` with unique signed events (a boost purchase, each request a fresh event id and
//   signature, built by autocannon's setupRequest); a duplicate storm (one signed event, delivered once
//   beforehand so that every request of the storm is a duplicate); Redis down (a second server whose
//   REDIS_URL names a port where nothing listens: every webhook answers the fail-closed 503).
//   Then, on the same server: a replay storm with the markers lost (every unique event sent so far,
//   delivered again once each after its Redis marker was deleted, so every request reaches Postgres; with
//   the Postgres sessions opened meanwhile) and the operator's bulk replay (BENCH_BULK_EVENTS badge
//   payments kept as needs_review, their purchases then created, then POST /admin/events/replay).
//   Then 100,000 unique events (BENCH_SOAK_EVENTS) on a fresh server after a warm-up, with its RSS
//   (/proc/<pid>/status VmRSS) after start-up, at the start, the end and the peak, and its V8 heap (/metrics).
// - For each scenario: requests/s (autocannon's mean of per-second samples), p50 and p99 latency (ms),
//   connection errors (timeouts included), non-2xx answers, the server's CPU per request (µs, from
//   /proc/<pid>/stat), and where the machine's CPU went meanwhile (server, this client, Postgres, Redis,
//   anything else, other databases' backends included; and the machine's iowait: a noise gauge, since other work on the machine, CPU or disk,
//   lowers every figure).
// - Ratios: unique / one-insert ceiling and duplicate storm / one-Redis ceiling.
// - A consistency check: every 2xx answered to a unique event must be one `webhook_events` row and one
//   `boosts` row (exactly once: none lost, none doubled).
// - The Postgres scenarios (one-insert ceiling, unique events, duplicate storm) run again, in the same rounds,
//   on a server of each `--via` (default `pgbouncer`): `pgbouncer`, through a PgBouncer started for the run
//   (transaction pooling, as many server connections as the service's pool, no ignore_startup_parameters
//   beyond extra_float_digits; test/helpers/pgbouncer.ts) with DATABASE_POOL_MODE=transaction; `unnamed`,
//   DATABASE_POOL_MODE=transaction straight to Postgres, which isolates what unnamed statements cost.
//   Their rows carry the suffix ` [pgbouncer]` / ` [unnamed]`; PgBouncer's own CPU counts as "other".
// - `--pool-sizes a,b,c` repeats the scenarios with each DATABASE_POOL_SIZE (one server each); otherwise
//   DATABASE_POOL_SIZE from the environment, else the service's default. BENCH_NODE_ARGS passes flags to
//   the server's node (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it, then bench/profile.ts);
//   BENCH_ROUNDS (1) repeats the scenarios, interleaved, and reports each one's best round (noise only ever
//   lowers a figure; the table shows the range); BENCH_LOG_LEVEL (warn) the server's LOG_LEVEL (info to measure per-request logging: lines to /dev/null).
// Results: a markdown table on stdout and bench/results.json (gitignored). Not a pass/fail test; not in CI.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, loadavg, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import pg from 'pg'
import { signPaddleBody } from '../services/paddle/signature.js'
import { startPgBouncer } from '../test/helpers/pgbouncer.js'

const { values: args } = parseArgs({
  options: {
    soak: { type: 'boolean', default: true },
    only: { type: 'string' },
    'pool-sizes': { type: 'string' },
    via: { type: 'string', default: 'pgbouncer' }
  },
  allowNegative: true
})
const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const SOAK_EVENTS = Number(process.env.BENCH_SOAK_EVENTS ?? 100_000)
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn'
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1)
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const SECRET = 'pdl_ntfset_bench_secret'
const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef0123'
// The server's default signature tolerance: the duplicate storm's one signature must stay valid throughout.
const TOLERANCE_SECONDS = 300
const CLOCK_TICKS = 100
const root = new URL('../', import.meta.url)
const runId = Date.now()
const dbName = `bw_bench_${runId}`
const KEY_PREFIX = `bwbench:${runId}:`

if (WARMUP + DURATION > TOLERANCE_SECONDS - 10) {
  throw new Error(`BENCH_WARMUP + BENCH_DURATION must stay under ${TOLERANCE_SECONDS - 10} s: the duplicate storm replays one signature`)
}

async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')) })
    })
  })
}

interface Server { url: string, child: ChildProcess, pid: number }
const servers = new Set<Server>()

/** Starts dist/server.js and waits until it is ready (and, unless `redisDown`, until Redis is too). */
async function startServer (env: Record<string, string>, redisDown = false): Promise<Server> {
  const port = await freePort()
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []
  const child = spawn(process.execPath, [...nodeArgs, 'dist/server.js'], {
    cwd: root,
    env: {
      ...process.env,
      // Not production: BENCH_ROUTES is refused there. Nothing else in the service reads NODE_ENV.
      NODE_ENV: 'bench',
      LOG_LEVEL,
      HOST: '127.0.0.1',
      PORT: String(port),
      PADDLE_WEBHOOK_SECRET: SECRET,
      PRICE_CATALOG: 'dist/catalog.example.json',
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      BENCH_ROUTES: '1',
      ...env
    },
    // Below warn, every request logs: those lines go to /dev/null (their cost is pino's, not a terminal's).
    stdio: ['ignore', LOG_LEVEL === 'warn' || LOG_LEVEL === 'error' ? 'inherit' : 'ignore', 'inherit']
  })
  const server = { url: `http://127.0.0.1:${port}`, child, pid: child.pid ?? 0 }
  servers.add(server)
  const wantSecurity = redisDown ? 503 : 200
  for (let i = 0; i < 300; i++) {
    try {
      const ready = await fetch(`${server.url}/health/ready`)
      const security = await fetch(`${server.url}/health/security`)
      if (ready.ok && security.status === wantSecurity) return server
    } catch {}
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`)
    await sleep(100)
  }
  throw new Error('server did not become ready')
}

async function stopServer (server: Server): Promise<void> {
  servers.delete(server)
  if (server.child.exitCode !== null || server.child.signalCode !== null) return
  const exited = new Promise((resolve) => server.child.once('exit', resolve))
  server.child.kill('SIGTERM')
  await exited
}

const rssMiB = (pid: number): number => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match?.[1] !== undefined ? Math.round(Number(match[1]) / 102.4) / 10 : NaN
}

async function heapUsedMiB (url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const match = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)
  return match?.[1] !== undefined ? Math.round(Number(match[1]) / 1024 / 102.4) / 10 : NaN
}

// CPU accounting from /proc: who used the cores while a scenario ran.
interface ProcCpu { comm: string, ticks: number }
function processCpu (): Map<number, ProcCpu> {
  const all = new Map<number, ProcCpu>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const close = stat.lastIndexOf(')')
      const fields = stat.slice(close + 2).split(' ')
      // Fields after the comm: state is [0], utime [11], stime [12].
      let comm = stat.slice(stat.indexOf('(') + 1, close)
      // A Postgres backend names its database: `postgres: 15/main: user db 127.0.0.1(port) idle`. Backends of
      // other databases (other people's tests) are other load; ours and the shared aux processes are ours.
      if (comm === 'postgres') {
        const backend = /^postgres: (?:\S+: )?\S+ (\S+) \S+\(\d+\)/.exec(readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' '))
        if (backend !== null && backend[1] !== dbName) comm = `postgres:${backend[1]}`
      }
      all.set(Number(name), { comm, ticks: Number(fields[11]) + Number(fields[12]) })
    } catch {}
  }
  return all
}

/** Machine-wide ticks from /proc/stat: iowait (cores idle while waiting on disk, e.g. Postgres's fsync) and steal. */
interface MachineTicks { busy: number, iowait: number, steal: number }
function machineTicks (): MachineTicks {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? []
  const at = (i: number): number => f[i] ?? 0
  // user nice system idle iowait irq softirq steal
  return { busy: at(0) + at(1) + at(2) + at(5) + at(6), iowait: at(4), steal: at(7) }
}

interface CpuShare {
  server: number
  client: number
  postgres: number
  redis: number
  other: number
  iowait: number
  steal: number
  otherTop: string[]
}
interface CpuSnapshot { at: number, procs: Map<number, ProcCpu>, machine: MachineTicks }
const cpuSnapshot = (): CpuSnapshot => ({ at: performance.now(), procs: processCpu(), machine: machineTicks() })

/** Cores used by each group between two snapshots (2.0 = both cores of a 2-core machine, all the time). */
function cpuShare (from: CpuSnapshot, to: CpuSnapshot, serverPid: number): CpuShare {
  const seconds = (to.at - from.at) / 1000
  const share: CpuShare = {
    server: 0,
    client: 0,
    postgres: 0,
    redis: 0,
    other: 0,
    iowait: (to.machine.iowait - from.machine.iowait) / CLOCK_TICKS / seconds,
    steal: (to.machine.steal - from.machine.steal) / CLOCK_TICKS / seconds,
    otherTop: []
  }
  const others: Array<[string, number]> = []
  for (const [pid, now] of to.procs) {
    const cores = (now.ticks - (from.procs.get(pid)?.ticks ?? 0)) / CLOCK_TICKS / seconds
    if (cores <= 0) continue
    if (pid === serverPid) share.server += cores
    else if (pid === process.pid) share.client += cores
    else if (now.comm === 'postgres') share.postgres += cores
    else if (now.comm === 'redis-server') share.redis += cores
    else if (cores >= 0.05) others.push([`${now.comm}(${pid})`, cores])
  }
  // Everything else, from the machine's total: processes that came and went during the run count too.
  const busy = (to.machine.busy - from.machine.busy) / CLOCK_TICKS / seconds
  share.other = Math.max(0, busy - share.server - share.client - share.postgres - share.redis)
  share.otherTop = others.sort((a, b) => b[1] - a[1]).slice(0, 4).map(([name, cores]) => `${name} ${cores.toFixed(2)}`)
  for (const key of ['server', 'client', 'postgres', 'redis', 'other', 'iowait', 'steal'] as const) share[key] = Math.round(share[key] * 100) / 100
  return share
}

// A boost purchase in Paddle's shape, padded with realistic line items and payment details to about 1 KB.
// The example catalogue's prices (the bench server runs with it as PRICE_CATALOG).
const CATALOG = JSON.parse(readFileSync(new URL('../catalog.example.json', import.meta.url), 'utf8')) as { prices: Record<string, { grant: string, months?: number, badgeId?: string }> }
const priceOf = (grant: string, test: (entry: { months?: number, badgeId?: string }) => boolean): string =>
  Object.entries(CATALOG.prices).find(([, entry]) => entry.grant === grant && test(entry))?.[0] ?? ''
const BOOST_PRICE = priceOf('boost', (entry) => entry.months === 3)
const BADGE_PRICE = priceOf('badge', (entry) => entry.badgeId === 'badge_gold')

/** A transaction.completed in Paddle's shape, ~1 KB: a 3-month boost, or a gold badge for `purchase_id`. */
function eventBody (eventId: string, priceId = BOOST_PRICE, customData: Record<string, string> = {}): string {
  const suffix = eventId.slice(4)
  const now = new Date().toISOString()
  return JSON.stringify({
    event_id: eventId,
    event_type: 'transaction.completed',
    occurred_at: now,
    notification_id: `ntf_${suffix}`,
    data: {
      id: `txn_${suffix}`,
      status: 'completed',
      customer_id: 'ctm_01hv8wxyz0000000000000000',
      subscription_id: null,
      currency_code: 'USD',
      origin: 'web',
      collection_mode: 'automatic',
      custom_data: { community_id: 'community_bench', member_id: 'member_bench', ...customData },
      items: [{ price_id: priceId, price: { id: priceId, description: 'Community boost, 3 months', unit_price: { amount: '1500', currency_code: 'USD' } }, quantity: 1 }],
      details: {
        totals: { subtotal: '1500', tax: '0', discount: '0', total: '1500', grand_total: '1500', fee: '120', earnings: '1380', currency_code: 'USD' },
        line_items: [{ id: 'txnitm_01hv8wxyz00000000000000', price_id: priceId, quantity: 1, totals: { subtotal: '1500', tax: '0', discount: '0', total: '1500' }, product: { id: 'pro_01hv8boost0000000000000', name: 'Boost' } }]
      },
      payments: [{ payment_attempt_id: '1f2e3d4c-0000-4000-8000-000000000000', amount: '1500', status: 'captured', method_details: { type: 'card', card: { type: 'visa', last4: '4242', expiry_month: 1, expiry_year: 2030 } } }],
      billed_at: now
    }
  })
}

const newEventId = (): string => `evt_01${randomBytes(12).toString('hex')}`

interface Row {
  scenario: string
  round?: number
  pool: number | 'default'
  /** How the server reached Postgres: `direct` (session mode, named statements), or a `--via`. */
  via?: Via
  rps: number
  p50: number
  p99: number
  errors: number
  timeouts: number
  non2xx: number
  requests: number
  statusCodes: Record<string, number>
  /** The server's CPU time per answered request, in microseconds. */
  serverCpuUsPerRequest: number
  cpu: CpuShare
  /** Replay storm: Postgres sessions opened for the bench database during the scenario. */
  newPostgresSessions?: number
}

/** 2xx answers to new events, and how many requests were still in flight when a timed run stopped. */
interface Counted { ok2xx: number, cutOff: number }

/** Warm-up (not recorded), then the measured run, with the CPU of everyone on the machine meanwhile. */
async function run (scenario: string, server: Server, options: autocannon.Options, pool: Row['pool'], counted?: Counted, warmup = true): Promise<Row> {
  const base = { connections: CONNECTIONS, ...options }
  if (warmup && WARMUP > 0) {
    const warm = await autocannon({ ...base, duration: WARMUP })
    if (counted !== undefined) {
      counted.ok2xx += warm['2xx']
      counted.cutOff += CONNECTIONS
    }
  }
  const before = cpuSnapshot()
  // A fixed number of requests (the soak) or a fixed duration, never both.
  const result = await autocannon(options.amount !== undefined ? base : { duration: DURATION, ...base })
  const after = cpuSnapshot()
  if (counted !== undefined) {
    counted.ok2xx += result['2xx']
    if (options.amount === undefined) counted.cutOff += CONNECTIONS
  }
  const cpu = cpuShare(before, after, server.pid)
  const serverTicks = (after.procs.get(server.pid)?.ticks ?? 0) - (before.procs.get(server.pid)?.ticks ?? 0)
  const answered = result.requests.total
  const statusCodes: Record<string, number> = {}
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count ?? 0
  const row: Row = {
    scenario,
    pool,
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    requests: answered,
    statusCodes,
    serverCpuUsPerRequest: answered > 0 ? Math.round(serverTicks / CLOCK_TICKS * 1e6 / answered) : NaN,
    cpu
  }
  process.stderr.write(`${scenario}${pool === 'default' ? '' : ` [pool ${pool}]`}: ${row.rps} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, ` +
    `errors ${row.errors}, non-2xx ${row.non2xx} ${JSON.stringify(statusCodes)}, server ${row.serverCpuUsPerRequest} µs CPU/req, ` +
    `cores: server ${cpu.server} client ${cpu.client} pg ${cpu.postgres} redis ${cpu.redis} other ${cpu.other} iowait ${cpu.iowait} steal ${cpu.steal}` +
    `${cpu.otherTop.length > 0 ? ` (${cpu.otherTop.join(', ')})` : ''}\n`)
  return row
}

const jsonPost = (base: string, path: string, body: string): autocannon.Options =>
  ({ url: `${base}${path}`, method: 'POST', headers: { 'content-type': 'application/json' }, body })

/** Every unique event's body, kept for the replay storm (markers lost) that redelivers them. */
const sentBodies: string[] = []
const signedRequest = (): autocannon.Request => {
  const body = eventBody(newEventId())
  if (sentBodies.length < MAX_KEPT_BODIES) sentBodies.push(body)
  return { method: 'POST', path: '/billing/webhook', body, headers: { 'content-type': 'application/json', 'paddle-signature': signPaddleBody(body, SECRET) } }
}
const MAX_KEPT_BODIES = 200_000
/** Redelivers the kept bodies in order, each once, re-signed (the signature's ts must stay within tolerance). */
const redelivery = (bodies: string[]): () => autocannon.Request => {
  let next = 0
  return () => {
    const body = bodies[next++ % bodies.length] ?? ''
    return { method: 'POST', path: '/billing/webhook', body, headers: { 'content-type': 'application/json', 'paddle-signature': signPaddleBody(body, SECRET) } }
  }
}

/** Sessions ever opened on the bench database (pg_stat_database.sessions, Postgres 14+). */
async function databaseSessions (): Promise<number> {
  const { rows: [row] } = await admin.query<{ sessions: string }>('select sessions from pg_stat_database where datname = $1', [dbName])
  return Number(row?.sessions ?? NaN)
}

const BULK_EVENTS = Number(process.env.BENCH_BULK_EVENTS ?? 2000)

/**
 * The operator's bulk replay: BULK_EVENTS badge payments that named no purchase wait as needs_review; the
 * operator makes the purchases they name (the fix), then replays them with POST /admin/events/replay,
 * 1,000 at a time. Reported as events replayed per second.
 */
async function bulkReplay (server: Server, pool: Row['pool']): Promise<Row> {
  const purchases: string[] = []
  for (let i = 0; i < BULK_EVENTS; i++) {
    const purchaseId = `bp_bench_${runId}_${pool}_${i}`
    purchases.push(purchaseId)
    const body = eventBody(newEventId(), BADGE_PRICE, { purchase_id: purchaseId })
    const answer = await fetch(`${server.url}/billing/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'paddle-signature': signPaddleBody(body, SECRET) }, body })
    if ((await answer.json() as { status?: string }).status !== 'needs_review') throw new Error('a badge payment for no purchase should wait for review')
  }
  const db = new pg.Client({ connectionString: databaseUrl.toString() })
  await db.connect()
  try {
    await db.query(`insert into badge_purchases (id, member_id, community_id, badge_id, price_id, status)
      select id, 'member_bench', 'community_bench', 'badge_gold', $2, 'pending' from unnest($1::text[]) as id`, [purchases, BADGE_PRICE])
  } finally {
    await db.end()
  }
  const before = cpuSnapshot()
  const started = performance.now()
  let replayed = 0
  const outcomes: Record<string, number> = {}
  for (;;) {
    const answer = await fetch(`${server.url}/admin/events/replay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ status: 'needs_review', type: 'transaction.completed', limit: 1000 })
    })
    const result = await answer.json() as { replayed: number, outcomes: Record<string, number> }
    for (const [key, n] of Object.entries(result.outcomes)) outcomes[key] = (outcomes[key] ?? 0) + n
    replayed += result.replayed
    if (result.replayed === 0) break
  }
  const seconds = (performance.now() - started) / 1000
  const after = cpuSnapshot()
  const serverTicks = (after.procs.get(server.pid)?.ticks ?? 0) - (before.procs.get(server.pid)?.ticks ?? 0)
  process.stderr.write(`bulk replay: ${replayed} events in ${seconds.toFixed(1)} s, ${JSON.stringify(outcomes)}\n`)
  return {
    scenario: `operator bulk replay (${BULK_EVENTS.toLocaleString('en')} needs_review events, 1,000 per request)`,
    pool,
    rps: Math.round(replayed / seconds),
    p50: NaN,
    p99: NaN,
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    requests: replayed,
    statusCodes: outcomes,
    serverCpuUsPerRequest: replayed > 0 ? Math.round(serverTicks / CLOCK_TICKS * 1e6 / replayed) : NaN,
    cpu: cpuShare(before, after, server.pid)
  }
}

const VIAS = ['pgbouncer', 'unnamed'] as const
type Via = 'direct' | typeof VIAS[number]
const vias = args.via === 'none' ? [] : (args.via ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '')
for (const via of vias) if (!(VIAS as readonly string[]).includes(via)) throw new Error(`--via: ${via} is not one of ${VIAS.join(', ')}, none`)
const only = args.only?.split(',').map((name) => name.trim())
const wanted = (name: string): boolean => only === undefined || only.includes(name)
const poolSizes: Array<Row['pool']> = args['pool-sizes'] !== undefined
  ? args['pool-sizes'].split(',').map(Number)
  : [process.env.DATABASE_POOL_SIZE !== undefined ? Number(process.env.DATABASE_POOL_SIZE) : 'default']
const admin = new pg.Client({ connectionString: ADMIN_URL })
const startLoad = loadavg().map((l) => Math.round(l * 100) / 100)
// What else was busy just before we started, over one second.
const idleBefore = cpuSnapshot()
await sleep(1000)
const background = cpuShare(idleBefore, cpuSnapshot(), -1)

/** Deletes this run's keys (SCAN + UNLINK under its own prefix only): a full run leaves ~10^5 markers. */
async function deleteRunKeys (prefix = KEY_PREFIX): Promise<number> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  redis.on('error', () => {})
  let deleted = 0
  try {
    await redis.connect()
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) deleted += await redis.unlink(...keys)
    }
  } finally {
    redis.disconnect()
  }
  return deleted
}

// eslint-disable-next-line prefer-const -- assigned once the run starts; a Ctrl-C clean-up may read it before
let bouncer: Awaited<ReturnType<typeof startPgBouncer>> | undefined
let cleaned = false
async function cleanUp (): Promise<void> {
  await Promise.all([...servers].map(stopServer))
  await bouncer?.remove()
  if (!cleaned) {
    cleaned = true
    await admin.query(`drop database if exists ${dbName} with (force)`).catch(() => {})
    await admin.end().catch(() => {})
    await deleteRunKeys().catch((err: unknown) => { process.stderr.write(`could not delete the run's Redis keys under ${KEY_PREFIX}: ${String(err)}\n`) })
  }
}
process.once('SIGINT', () => { cleanUp().finally(() => process.exit(130)) })

await admin.connect()
await admin.query(`create database ${dbName}`)
const databaseUrl = new URL(ADMIN_URL)
databaseUrl.pathname = `/${dbName}`
const rows: Row[] = []
const soak: Record<string, number | number[]> = {}
const counted: Counted = { ok2xx: 0, cutOff: 0 }
const consistency: Record<string, number | boolean> = {}
bouncer = vias.includes('pgbouncer')
  ? await startPgBouncer({ upstream: ADMIN_URL, poolSize: Math.max(...poolSizes.map((pool) => (pool === 'default' ? 20 : pool))) })
  : undefined

/** Delivers the storm's event once, so that every request of the storm is a duplicate. */
async function prime (url: string, body: string): Promise<void> {
  const first = await fetch(`${url}/billing/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'paddle-signature': signPaddleBody(body, SECRET) },
    body
  })
  if (first.status !== 200) throw new Error(`priming the duplicate storm answered ${first.status}`)
  counted.ok2xx += 1
}

try {
  for (const pool of poolSizes) {
    const env = {
      DATABASE_URL: databaseUrl.toString(),
      REDIS_URL,
      REDIS_KEY_PREFIX: `${KEY_PREFIX}${pool}:`,
      // Markers outlive the run by an hour at most, even if the clean-up below cannot run.
      PROCESSED_TTL_SECONDS: '3600',
      ...(pool !== 'default' ? { DATABASE_POOL_SIZE: String(pool) } : {})
    }
    const server = await startServer(env)
    const { url } = server
    const filler = eventBody(newEventId())
    const down = wanted('down') ? await startServer({ ...env, REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, true) : undefined
    const stormBody = eventBody(newEventId())
    if (wanted('duplicate')) await prime(url, stormBody)
    // A server for each --via, beside the direct one, so that the rounds interleave them too.
    const others: Array<{ via: Via, server: Server, stormBody: string }> = []
    for (const via of vias as Via[]) {
      const other = await startServer({
        ...env,
        REDIS_KEY_PREFIX: `${KEY_PREFIX}${pool}:${via}:`,
        DATABASE_POOL_MODE: 'transaction',
        ...(via === 'pgbouncer' && bouncer !== undefined ? { DATABASE_URL: bouncer.url(databaseUrl.toString()) } : {})
      })
      const body = eventBody(newEventId())
      if (wanted('duplicate')) await prime(other.url, body)
      others.push({ via, server: other, stormBody: body })
    }
    // Rounds interleave the scenarios, so a burst of other work on the machine hits one round, not one scenario.
    for (let round = 1; round <= ROUNDS; round++) {
      const add = (row: Row, via: Via = 'direct') => { rows.push({ ...row, round, via }) }
      if (wanted('noop')) add(await run('ceiling: no-op route', server, jsonPost(url, '/bench/noop', filler), pool))
      if (wanted('redis')) add(await run('ceiling: one Redis lock + unlock', server, jsonPost(url, '/bench/redis-lock', filler), pool))
      for (const setup of [{ via: 'direct' as Via, server, stormBody }, ...others]) {
        const tag = setup.via === 'direct' ? '' : ` [${setup.via}]`
        const at = setup.server.url
        if (wanted('insert')) add(await run(`ceiling: one Postgres insert${tag}`, setup.server, jsonPost(at, '/bench/pg-insert', filler), pool), setup.via)
        if (wanted('unique')) add(await run(`webhook: unique events${tag}`, setup.server, { url: at, requests: [{ setupRequest: signedRequest }] }, pool, counted), setup.via)
        if (wanted('duplicate')) {
          // The same delivery every time; signed afresh each round so that the signature stays within tolerance.
          const headers = { 'content-type': 'application/json', 'paddle-signature': signPaddleBody(setup.stormBody, SECRET) }
          add(await run(`webhook: duplicate storm${tag}`, setup.server, { url: `${at}/billing/webhook`, method: 'POST', headers, body: setup.stormBody }, pool), setup.via)
        }
      }
      if (down !== undefined) add(await run('webhook: Redis down (503)', down, { url: down.url, requests: [{ setupRequest: signedRequest }] }, pool))
    }
    for (const other of others) await stopServer(other.server)
    if (wanted('replay-storm') && sentBodies.length > 0) {
      // Every event already recorded and every marker gone (an eviction, a failover, a flush): each request
      // goes to Postgres, where the record's conflict clause answers duplicate without an error.
      const bodies = sentBodies.splice(0, sentBodies.length)
      await deleteRunKeys(`${KEY_PREFIX}${pool}:processed:`)
      const sessionsBefore = await databaseSessions()
      const row = await run(`webhook: replay storm, markers lost (${bodies.length.toLocaleString('en')} recorded events)`, server,
        { url, amount: bodies.length, requests: [{ setupRequest: redelivery(bodies) }] }, pool, undefined, false)
      rows.push({ ...row, newPostgresSessions: await databaseSessions() - sessionsBefore })
    }
    if (wanted('bulk-replay')) rows.push(await bulkReplay(server, pool))
    if (down !== undefined) await stopServer(down)
    await stopServer(server)
    if (args.soak && wanted('soak') && pool === poolSizes[0]) {
      // A fresh server, so that start and end bracket these events only; after a warm-up, so that the start
      // is a process that has compiled its hot paths and filled its pools, as any replica soon has.
      const fresh = await startServer(env)
      soak.events = SOAK_EVENTS
      soak.rssAfterStartMiB = rssMiB(fresh.pid)
      if (WARMUP > 0) {
        const warm = await autocannon({ url: fresh.url, connections: CONNECTIONS, duration: WARMUP, requests: [{ setupRequest: signedRequest }] })
        counted.ok2xx += warm['2xx']
        counted.cutOff += CONNECTIONS
      }
      soak.rssStartMiB = rssMiB(fresh.pid)
      soak.heapStartMiB = await heapUsedMiB(fresh.url)
      const samples: number[] = []
      const sampler = setInterval(() => { samples.push(rssMiB(fresh.pid)) }, 1000)
      try {
        rows.push(await run(`soak: ${SOAK_EVENTS.toLocaleString('en')} unique events`, fresh,
          { url: fresh.url, amount: SOAK_EVENTS, requests: [{ setupRequest: signedRequest }] }, pool, counted, false))
      } finally {
        clearInterval(sampler)
      }
      soak.rssEndMiB = rssMiB(fresh.pid)
      soak.heapEndMiB = await heapUsedMiB(fresh.url)
      soak.rssPeakMiB = Math.max(soak.rssEndMiB, ...samples)
      soak.rssGrowthPercent = Math.round((soak.rssEndMiB / soak.rssStartMiB - 1) * 1000) / 10
      soak.rssSamplesMiB = samples
      // V8 grows its young generation during the first seconds of sustained load, then RSS plateaus; growth
      // from the first tenth of the run to its end is the figure that tells a leak from that sizing.
      const tenth = samples[Math.floor(samples.length / 10)]
      if (tenth !== undefined) soak.rssGrowthAfterFirstTenthPercent = Math.round((soak.rssEndMiB / tenth - 1) * 1000) / 10
      await stopServer(fresh)
    }
  }
  // Exactly once: each 2xx for a unique event (and the storm's primer) is one record and one boost. A timed
  // run stops with up to one request per connection in flight: the server may still apply those, unseen.
  const db = new pg.Client({ connectionString: databaseUrl.toString() })
  await db.connect()
  try {
    const [events] = (await db.query<{ n: number }>("select count(*)::int as n from webhook_events where payload->'data'->'custom_data'->>'purchase_id' is null")).rows
    const [boosts] = (await db.query<{ n: number }>('select count(*)::int as n from boosts')).rows
    consistency.acknowledged = counted.ok2xx
    consistency.webhookEventRows = events?.n ?? NaN
    consistency.boostRows = boosts?.n ?? NaN
    consistency.inFlightAtStops = counted.cutOff
    consistency.exactlyOnce = consistency.boostRows === consistency.webhookEventRows &&
      consistency.webhookEventRows >= counted.ok2xx && consistency.webhookEventRows <= counted.ok2xx + counted.cutOff
  } finally {
    await db.end()
  }
} finally {
  await cleanUp()
}

// Other work on the machine only ever lowers a figure: with several rounds, each scenario's best round is
// reported (the others stay in results.json, and the table shows their range).
const best: Row[] = []
for (const row of rows) {
  const i = best.findIndex((b) => b.scenario === row.scenario && b.pool === row.pool)
  if (i < 0) best.push(row)
  else if (row.rps > (best[i]?.rps ?? 0)) best[i] = row
}
const spread = (row: Row): string => {
  const all = rows.filter((r) => r.scenario === row.scenario && r.pool === row.pool).map((r) => r.rps)
  return all.length > 1 ? ` (${Math.min(...all)}–${Math.max(...all)})` : ''
}
const ratio = (a?: Row, b?: Row) => a !== undefined && b !== undefined ? Math.round((a.rps / b.rps) * 100) / 100 : undefined
const ratios = poolSizes.flatMap((pool) => (['direct', ...vias] as Via[]).map((via) => {
  const find = (prefix: string, rowVia = via) => best.find((row) => row.pool === pool && (row.via ?? 'direct') === rowVia && row.scenario.startsWith(prefix))
  const direct = (prefix: string) => find(prefix, 'direct')
  return {
    pool,
    via,
    uniqueOverInsert: ratio(find('webhook: unique'), find('ceiling: one Postgres')),
    duplicateOverRedis: ratio(find('webhook: duplicate'), find('ceiling: one Redis', 'direct')),
    // What this way of reaching Postgres keeps of the direct figures.
    ...(via !== 'direct'
      ? {
          insertOverDirect: ratio(find('ceiling: one Postgres'), direct('ceiling: one Postgres')),
          uniqueOverDirect: ratio(find('webhook: unique'), direct('webhook: unique')),
          duplicateOverDirect: ratio(find('webhook: duplicate'), direct('webhook: duplicate'))
        }
      : {})
  }
}))
const machine = {
  cpus: cpus().length,
  model: cpus()[0]?.model,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  loadavgStart: startLoad,
  loadavgEnd: loadavg().map((l) => Math.round(l * 100) / 100),
  backgroundCoresBefore: background
}
writeFileSync(new URL('results.json', import.meta.url), JSON.stringify({
  date: new Date().toISOString(),
  machine,
  durationSeconds: DURATION,
  warmupSeconds: WARMUP,
  connections: CONNECTIONS,
  rounds: ROUNDS,
  best,
  rows,
  ratios,
  soak,
  consistency
}, null, 2) + '\n')

const label = (row: Row) => `${row.scenario}${poolSizes.length > 1 ? ` (pool ${row.pool})` : ''}`
const lines = [
  '| scenario | req/s | p50 ms | p99 ms | errors | non-2xx | server µs CPU/req | cores: server / client / pg / redis / other; iowait |',
  '|---|---:|---:|---:|---:|---:|---:|---|',
  ...best.map((r) => `| ${label(r)} | ${r.rps}${spread(r)} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.non2xx} | ${r.serverCpuUsPerRequest} | ` +
    `${r.cpu.server} / ${r.cpu.client} / ${r.cpu.postgres} / ${r.cpu.redis} / ${r.cpu.other}; ${r.cpu.iowait} |`),
  ''
]
for (const r of ratios) {
  const where = [poolSizes.length > 1 ? `pool ${r.pool}` : '', r.via !== 'direct' ? r.via : ''].filter((part) => part !== '').join(', ')
  lines.push(`${where !== '' ? `${where}: ` : ''}unique / one-insert ceiling: ${r.uniqueOverInsert ?? 'n/a'} (target ≥ 0.7); ` +
    `duplicate / one-Redis ceiling: ${r.duplicateOverRedis ?? 'n/a'} (target ≥ 0.8)` +
    (r.via !== 'direct' ? `; against direct: insert ${r.insertOverDirect ?? 'n/a'}, unique ${r.uniqueOverDirect ?? 'n/a'}, duplicate ${r.duplicateOverDirect ?? 'n/a'}` : ''))
}
if (soak.rssStartMiB !== undefined) {
  lines.push(`RSS over ${SOAK_EVENTS.toLocaleString('en')} unique events (fresh server, ${soak.rssAfterStartMiB} MiB after start-up, ` +
    `then a ${WARMUP} s warm-up): ${soak.rssStartMiB} MiB → ${soak.rssEndMiB} MiB (${soak.rssGrowthPercent} %, peak ${soak.rssPeakMiB} MiB; ` +
    `target < 20 %); ${soak.rssGrowthAfterFirstTenthPercent ?? 'n/a'} % from the first tenth of the run to its end; ` +
    `V8 heap used ${soak.heapStartMiB} → ${soak.heapEndMiB} MiB`)
}
if (consistency.acknowledged !== undefined) {
  lines.push(`exactly once: ${consistency.acknowledged} new events acknowledged (+ at most ${consistency.inFlightAtStops} in flight ` +
    `when timed runs stopped), ${consistency.webhookEventRows} webhook_events rows, ${consistency.boostRows} boosts: ` +
    `${consistency.exactlyOnce === true ? 'consistent' : 'MISMATCH'}`)
}
lines.push(`${machine.cpus} × ${machine.model}, ${machine.memoryGiB} GiB, Node ${machine.node}; ${CONNECTIONS} connections, ` +
  `${WARMUP} s warm-up + ${DURATION} s per scenario${ROUNDS > 1 ? `, best of ${ROUNDS} interleaved rounds` : ''}; load average ${machine.loadavgStart.join(' ')} at the start, ` +
  `${machine.loadavgEnd.join(' ')} at the end; other processes used ${background.other + background.postgres + background.redis} cores ` +
  `in the second before the run${background.otherTop.length > 0 ? ` (${background.otherTop.join(', ')})` : ''}`)
console.log(lines.join('\n'))
