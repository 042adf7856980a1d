// One Redis that stops answering without closing anything: SIGSTOP for 30 s under steady traffic (the client
// still says `ready`), then a primary demoted to a replica on the connections the service keeps (REPLICAOF).
// Both must close the lock routes within 1 s, keep memory flat, and reopen by themselves with no restart.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { startOwnRedis } from '../helpers/redis-server.js'
import { leaks, printTable, scrape, startCluster, type Summary } from './harness.js'
import { burstThroughFault, formatOutage, type Outage } from './outage.js'

t.setTimeout(240_000)

const STALL_MS = 30_000
const MB = 1024 * 1024

t.test('one Redis, hung then read-only, two service processes under load', async (t) => {
  const service = await startCluster(t, {}, 2)
  const { redis, replicas } = service
  const rows: Summary[] = []
  const outages: Outage[] = []
  const memory: string[] = []
  t.teardown(() => {
    printTable(rows)
    process.stderr.write([...outages.map(formatOutage), ...memory].map((line) => `${line}\n`).join(''))
  })

  t.test(`SIGSTOP for ${STALL_MS / 1000} s under traffic: 503 within 1 s, no 200 after the trip, memory flat; SIGCONT: open within 5 s`, async (t) => {
    const samples: Array<Array<{ heap: number, rss: number, pending: number, up: number }>> = replicas.map(() => [])
    const sampling = new AbortController()
    let sampler: Promise<unknown> = Promise.resolve()
    const { summary, outage, attempts, faultAt } = await burstThroughFault(t, service, {
      name: `one Redis hung (SIGSTOP) for ${STALL_MS / 1000} s`,
      community: 'community_hung',
      concurrency: 20,
      // A provider retrying every 50 ms or so keeps hundreds of requests a second on the stalled replicas.
      provider: { maxRetryAfterMs: 50, maxBackoffMs: 50 },
      async fault () {
        redis.pause()
        sampler = Promise.all(replicas.map(async (replica, i) => {
          while (!sampling.signal.aborted) {
            await sleep(1000)
            const [heap, rss, pending, up] = await Promise.all(['nodejs_heap_size_used_bytes', 'process_resident_memory_bytes',
              'redis_pending_commands', 'redis_up'].map((name) => scrape(replica, name)))
            samples[i]!.push({ heap: heap!, rss: rss!, pending: pending!, up: up! })
          }
        }))
      },
      async heal () {
        await sleep(STALL_MS)
        sampling.abort()
        await sampler
        redis.resume()
      }
    })
    rows.push(summary)
    outages.push(outage)

    const stalled = attempts.filter((a) => a.start > faultAt + 1000 && a.start < faultAt + STALL_MS)
    t.ok(stalled.length > 2000, `traffic throughout the stall (${stalled.length} requests, ${Math.round(stalled.length / (STALL_MS / 1000))}/s)`)
    for (const [i, list] of samples.entries()) {
      // The memory check compares the stall's first seconds with its last: it needs samples across it (one a
      // second is the aim; a loaded machine delays some of them, which says nothing about the service).
      t.ok(list.length >= 15, `replica ${i}: sampled across the stall (${list.length} samples)`)
      t.same(list.slice(1).filter((s) => s.up !== 0).length, 0, `replica ${i}: redis_up stayed 0 during the stall`)
      const pending = Math.max(...list.map((s) => s.pending))
      t.ok(pending <= 50, `replica ${i}: the Redis client held at most ${pending} commands`)
      // Minima over five samples, so that garbage not yet collected counts less. V8 collects its old space
      // lazily, so heap in use drifts up between major collections; the resident set is what the host sees.
      const early = list.slice(2, 7)
      const late = list.slice(-5)
      const heap = (Math.min(...late.map((s) => s.heap)) - Math.min(...early.map((s) => s.heap))) / MB
      const rss = (Math.min(...late.map((s) => s.rss)) - Math.min(...early.map((s) => s.rss))) / MB
      t.ok(rss < 20, `replica ${i}: resident memory grew ${rss.toFixed(1)} MB from the stall's first seconds to its last`)
      memory.push(`hung, replica ${i}: heap in use ${(Math.min(...early.map((s) => s.heap)) / MB).toFixed(1)} -> ${(Math.min(...late.map((s) => s.heap)) / MB).toFixed(1)} MB (${heap >= 0 ? '+' : ''}${heap.toFixed(1)}), ` +
        `RSS ${(Math.min(...early.map((s) => s.rss)) / MB).toFixed(1)} -> ${(Math.min(...late.map((s) => s.rss)) / MB).toFixed(1)} MB (${rss >= 0 ? '+' : ''}${rss.toFixed(1)}), ` +
        `at most ${pending} Redis commands held, ${stalled.filter((a) => a.replica === i).length} requests during the stall`)
    }
  })

  t.test('REPLICAOF another server (a demoted primary on a kept connection): 503 within 1 s; REPLICAOF NO ONE: open within 5 s', async (t) => {
    const other = await startOwnRedis(t)
    const { summary, outage } = await burstThroughFault(t, service, {
      name: 'one Redis made a replica (READONLY) for 3 s',
      community: 'community_readonly',
      fault: async () => { await redis.client.call('REPLICAOF', '127.0.0.1', String(other.port)) },
      async heal () {
        await sleep(3000)
        await redis.client.call('REPLICAOF', 'NO', 'ONE')
      }
    })
    rows.push(summary)
    outages.push(outage)
    t.ok(service.lines().some((line) => line.includes('redis unhealthy') && line.includes('"reason":"readonly"')), 'the log names the reason: readonly')
  })

  t.test('each transition logged once per replica; no secret in any log line', async (t) => {
    for (const replica of replicas) {
      const transitions = replica.lines.filter((line) => /"msg":"redis (unhealthy|healthy)/.test(line))
        .map((line) => { const { reason, after } = JSON.parse(line) as { reason?: string, after?: string }; return reason ?? `healthy after ${after}` })
      t.same(transitions, ['healthy after starting', 'timeout', 'healthy after timeout', 'readonly', 'healthy after readonly'])
    }
    t.same(leaks(service), [])
  })
})
