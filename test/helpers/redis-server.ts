// A private redis-server on a free port, for tests that stop, pause or watch Redis. Never the shared one.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'

interface Teardown { teardown(fn: () => unknown): void }

export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')) })
    })
  })
}

export interface OwnRedis {
  port: number
  url: string
  /** A plain client to this server, for assertions (PTTL, EXISTS, CLIENT PAUSE, MONITOR...). */
  client: Redis
  running(): boolean
  start(): Promise<void>
  stop(): Promise<void>
  /** SIGSTOP: the server keeps its port and connections but answers nothing (a hung Redis). */
  pause(): void
  /** SIGCONT after pause(). */
  resume(): void
  pid(): number | undefined
}

export interface OwnRedisOptions {
  /** More redis-server arguments (cluster mode, a replica of another server...). */
  args?: string[]
  /** A configuration file, read first (a sentinel needs one it can rewrite). */
  configFile?: string
  port?: number
}

export async function startOwnRedis (t: Teardown, options: OwnRedisOptions = {}): Promise<OwnRedis> {
  const port = options.port ?? await freePort()
  // A replica saves the RDB of its full sync in its directory: never the repository's.
  const dir = mkdtempSync(join(tmpdir(), 'bw-redis-'))
  let child: ChildProcess | undefined
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 })
  client.on('error', () => {})

  const own: OwnRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    client,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async start () {
      const file = options.configFile !== undefined ? [options.configFile] : []
      child = spawn('redis-server', [...file, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...options.args ?? []], { stdio: 'ignore' })
      for (let i = 0; i < 100; i++) {
        const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
        probe.on('error', () => {})
        try {
          await probe.connect()
          await probe.ping()
          probe.disconnect()
          if (client.status === 'wait') await client.connect()
          return
        } catch {
          probe.disconnect()
          await sleep(50)
        }
      }
      throw new Error(`redis-server on port ${port} did not start`)
    },
    async stop () {
      const running = child
      if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
      const exited = new Promise((resolve) => running.once('exit', resolve))
      running.kill('SIGKILL')
      await exited
    },
    pause () { child?.kill('SIGSTOP') },
    resume () { child?.kill('SIGCONT') },
    pid: () => child?.pid
  }
  t.teardown(async () => {
    client.disconnect()
    await own.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  await own.start()
  return own
}
