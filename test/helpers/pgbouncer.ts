// A private PgBouncer on a free port in front of the test Postgres, as users run it: transaction pooling,
// and no `ignore_startup_parameters` beyond `extra_float_digits` (so a startup parameter such as
// statement_timeout is refused, as Debian's PgBouncer 1.18 does). Every database name goes through to the
// same-named database, so a test's fresh database is reached by changing only the port of its URL.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ADMIN_DATABASE_URL } from './env.js'
import { freePort } from './redis-server.js'

interface Teardown { teardown(fn: () => unknown): void }

// Debian installs it in /usr/sbin, which is not on a normal user's PATH; PGBOUNCER names another one.
const PGBOUNCER = process.env.PGBOUNCER ?? (existsSync('/usr/sbin/pgbouncer') ? '/usr/sbin/pgbouncer' : 'pgbouncer')

export interface PgBouncerOptions {
  /** The Postgres in front of which it runs (host, port and user); default: the tests' TEST_DATABASE_URL. */
  upstream?: string
  /** Server connections per database and user (PgBouncer's default_pool_size). */
  poolSize?: number
  /** Client-side TLS: PgBouncer presents this certificate and refuses plain connections. */
  tls?: { certFile: string, keyFile: string }
}

export interface PgBouncer {
  port: number
  /** The same database, user and parameters as `direct`, through this PgBouncer. */
  url(direct: string): string
  /** Every line PgBouncer logged. */
  lines: string[]
  running(): boolean
  start(): Promise<void>
  /** SIGKILL: gone at once, every client connection dropped. */
  stop(): Promise<void>
}

/** Every PgBouncer this process started: a test run through one can check that it really was. */
export const startedPgBouncers: PgBouncer[] = []

/** Starts one; the caller stops it (the bench). Tests use `pgBouncer(t)`, which also cleans up. */
export async function startPgBouncer (options: PgBouncerOptions = {}): Promise<PgBouncer & { remove(): Promise<void> }> {
  const upstream = new URL(options.upstream ?? ADMIN_DATABASE_URL)
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'bw-pgbouncer-'))
  const user = decodeURIComponent(upstream.username || 'postgres')
  const settings: Record<string, string | number> = {
    listen_addr: '127.0.0.1',
    listen_port: port,
    unix_socket_dir: dir,
    auth_type: 'trust',
    auth_file: join(dir, 'users.txt'),
    pool_mode: 'transaction',
    ignore_startup_parameters: 'extra_float_digits',
    default_pool_size: options.poolSize ?? 20,
    max_client_conn: 1000,
    // A refused server login makes waiting clients fail at once ("server login has been failing"), and
    // is retried after this long: tests that cut Postgres for a few seconds see it back quickly.
    server_login_retry: 1,
    // Below the service's 12 s client-side query timeout, as the README advises: a query PgBouncer could not
    // place on a server is refused, instead of running after the service gave up on it and answered 500.
    query_wait_timeout: 10,
    log_connections: 1,
    log_disconnections: 0,
    log_pooler_errors: 1,
    ...(options.tls !== undefined
      ? { client_tls_sslmode: 'require', client_tls_cert_file: options.tls.certFile, client_tls_key_file: options.tls.keyFile }
      : {})
  }
  const ini = [
    '[databases]',
    `* = host=${upstream.hostname} port=${upstream.port || 5432}`,
    '[pgbouncer]',
    ...Object.entries(settings).map(([key, value]) => `${key} = ${value}`)
  ].join('\n') + '\n'
  writeFileSync(join(dir, 'users.txt'), `"${user}" ""\n`)
  writeFileSync(join(dir, 'pgbouncer.ini'), ini)
  // PgBouncer refuses to run as root: as root (CI), it runs as the postgres user, which must read its
  // files and own the socket directory.
  const runAs = process.getuid?.() === 0 ? systemUser() : undefined
  if (runAs !== undefined) {
    chownSync(dir, runAs.uid, runAs.gid)
    for (const file of ['users.txt', 'pgbouncer.ini']) chmodSync(join(dir, file), 0o644)
    if (options.tls !== undefined) for (const file of [options.tls.certFile, options.tls.keyFile]) chownSync(file, runAs.uid, runAs.gid)
  }

  let child: ChildProcess | undefined
  const lines: string[] = []
  const bouncer = {
    port,
    lines,
    url (direct: string) {
      const url = new URL(direct)
      url.hostname = '127.0.0.1'
      url.port = String(port)
      return url.toString()
    },
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async start () {
      const args = [...(runAs !== undefined ? ['-u', runAs.name] : []), join(dir, 'pgbouncer.ini')]
      const started = spawn(PGBOUNCER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      child = started
      for (const stream of [started.stdout, started.stderr]) {
        stream?.setEncoding('utf8')
        stream?.on('data', (chunk: string) => { for (const line of chunk.split('\n')) if (line !== '') lines.push(line) })
      }
      await new Promise<void>((resolve, reject) => {
        started.once('spawn', resolve)
        started.once('error', (err) => { reject(new Error(`cannot start pgbouncer (is it installed?): ${err.message}`)) })
      })
      for (let i = 0; i < 100; i++) {
        if (started.exitCode !== null) throw new Error(`pgbouncer exited with ${started.exitCode}: ${lines.slice(-5).join('\n')}`)
        if (await answers(port)) return
        await sleep(50)
      }
      throw new Error(`pgbouncer on port ${port} did not start: ${lines.slice(-5).join('\n')}`)
    },
    async stop () {
      const running = child
      if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
      const exited = new Promise((resolve) => running.once('exit', resolve))
      running.kill('SIGKILL')
      await exited
    },
    async remove () {
      await bouncer.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
  await bouncer.start()
  startedPgBouncers.push(bouncer)
  return bouncer
}

/** Client logins each PgBouncer of this process has seen (`login attempt` lines). */
export function pgBouncerLogins (): number[] {
  return startedPgBouncers.map((bouncer) => bouncer.lines.filter((line) => line.includes('login attempt')).length)
}

/** A PgBouncer for one test, killed in its teardown. */
export async function pgBouncer (t: Teardown, options: PgBouncerOptions = {}): Promise<PgBouncer> {
  const bouncer = await startPgBouncer(options)
  t.teardown(() => bouncer.remove())
  return bouncer
}

/** True once something accepts a TCP connection on the port. */
async function answers (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { socket.destroy(); resolve(false) })
  })
}

function systemUser (): { name: string, uid: number, gid: number } {
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim())
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim())
      return { name, uid, gid }
    } catch {}
  }
  throw new Error('pgbouncer will not run as root, and neither a postgres nor a nobody user exists')
}
