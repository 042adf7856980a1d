// The real service as a separate process: compiled once per test file into a private directory (tap
// runs files in parallel, so no two share dist/), started with an environment, every log line kept.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './redis-server.js'
import { TEST_SECRET } from './env.js'
import { copyAssets } from '../../scripts/copy-assets.mjs'

interface Teardown { teardown(fn: () => unknown): void }

const root = new URL('../../', import.meta.url).pathname
let compiled: string | undefined

/** Compiles the service (tsc, as `npm run build` does) once per test process; removed when it exits. */
export function compileService (): string {
  if (compiled !== undefined) return compiled
  const outDir = mkdtempSync(join(tmpdir(), 'bw-build-'))
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', outDir], { stdio: 'inherit' })
  copyAssets(outDir)
  // The compiled files import packages from the project's node_modules.
  execFileSync('ln', ['-s', join(root, 'node_modules'), join(outDir, 'node_modules')])
  // mkdtemp makes it 0700; a test may run the service as another uid (options.uid).
  chmodSync(outDir, 0o755)
  process.once('exit', () => { rmSync(outDir, { recursive: true, force: true }) })
  compiled = outDir
  return outDir
}

export interface ServerProcess {
  url: string
  port: number
  child: ChildProcess
  /** Every line the process wrote, stdout and stderr. */
  lines: string[]
  exited: Promise<number | null>
  signal(name: NodeJS.Signals): void
  /** Resolves once /health/ready answers 200. */
  ready(ms?: number): Promise<void>
  /**
   * Resolves once /health/security answers 200: the lock routes are open. Readiness does not wait for Redis,
   * and the health check wants a few good heartbeats first.
   */
  lockRoutesOpen(ms?: number): Promise<void>
}

export interface StartOptions {
  /** Default true: resolve once /health/ready answers 200. */
  waitReady?: boolean
  /** Run the process as this uid (and gid): only root may, to meet permissions as the image's uid 1000 does. */
  uid?: number
}

export async function startServerProcess (t: Teardown, env: Record<string, string>, options: StartOptions = {}): Promise<ServerProcess> {
  const outDir = compileService()
  const port = Number(env.PORT ?? await freePort())
  const argv = [process.execPath, join(outDir, 'server.js')]
  // tap's coverage hook, which it adds to NODE_OPTIONS, would have the process write into the project's
  // .tap/ at exit, which another uid may not: that process runs without it (its lines go uncounted).
  const [command = '', ...args] = options.uid === undefined ? argv : ['env', '-u', 'NODE_OPTIONS', ...argv]
  const child = spawn(command, args, {
    cwd: outDir,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), PADDLE_WEBHOOK_SECRET: TEST_SECRET, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid })
  })
  const lines: string[] = []
  // A chunk may end mid-line (or mid-character): keep the tail until its newline, so a secret split
  // across two chunks is still one line for the tests that look for it.
  for (const stream of [child.stdout, child.stderr]) {
    let tail = ''
    stream?.setEncoding('utf8')
    stream?.on('data', (chunk: string) => {
      const parts = (tail + chunk).split('\n')
      tail = parts.pop() ?? ''
      for (const line of parts) if (line !== '') lines.push(line)
    })
    stream?.on('end', () => { if (tail !== '') lines.push(tail) })
  }
  // 'close', not 'exit': by then every line the process wrote has been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  const url = `http://127.0.0.1:${port}`
  const server: ServerProcess = {
    url,
    port,
    child,
    lines,
    exited,
    signal: (name) => { child.kill(name) },
    // A bound against a start that hangs, not a measure of speed: on a loaded 2-core machine several
    // replicas starting together can take well over 20 s.
    async ready (ms = 60_000) {
      const deadline = Date.now() + ms
      while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${lines.slice(-5).join('\n')}`)
        try {
          if ((await fetch(`${url}/health/ready`)).status === 200) return
        } catch {}
        await sleep(50)
      }
      throw new Error(`server on ${port} not ready within ${ms} ms`)
    },
    async lockRoutesOpen (ms = 60_000) {
      const deadline = Date.now() + ms
      while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${lines.slice(-5).join('\n')}`)
        try {
          if ((await fetch(`${url}/health/security`)).status === 200) return
        } catch {}
        await sleep(50)
      }
      throw new Error(`the lock routes of the server on ${port} did not open within ${ms} ms`)
    }
  }
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  if (options.waitReady !== false) await server.ready()
  return server
}
