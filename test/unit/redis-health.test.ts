import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { RedisHealth, RedisHealthError, classifyRedisError, type HealthProbe, type RedisHealthOptions } from '../../services/redis-health.js'

type Outcome = 'ok' | 'hang' | Error

/** A topology whose heartbeats answer as the test says, counting what the health check does to it. */
class FakeProbe implements HealthProbe {
  readonly topology = 'standalone'
  next: Outcome = 'ok'
  up = true
  beats = 0
  inFlight = 0
  maxInFlight = 0
  resets = 0
  private readonly hanging: Array<() => void> = []

  connected (): boolean { return this.up }

  async beat (): Promise<void> {
    this.beats++
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    try {
      const outcome = this.next
      if (outcome === 'hang') await new Promise<void>((resolve) => { this.hanging.push(resolve) })
      else if (outcome instanceof Error) throw outcome
    } finally {
      this.inFlight--
    }
  }

  /** As a real reset does, every held command is answered (with an error, there). */
  reset (): void {
    this.resets++
    for (const release of this.hanging.splice(0)) release()
  }

  pending (): number { return this.hanging.length }
}

function harness (t: { teardown(fn: () => unknown): void }, options: Partial<RedisHealthOptions> = {}) {
  const probe = new FakeProbe()
  const lines: Array<{ level: string, msg: string, obj: Record<string, unknown> }> = []
  const log = {
    info: (obj: object, msg: string) => { lines.push({ level: 'info', msg, obj: obj as Record<string, unknown> }) },
    warn: (obj: object, msg: string) => { lines.push({ level: 'warn', msg, obj: obj as Record<string, unknown> }) }
  }
  const health = new RedisHealth(probe, { intervalMs: 10, timeoutMs: 40, recoverAfter: 3, resetAfterMs: 60, log, ...options })
  const changes: Array<{ healthy: boolean, reason?: string }> = []
  health.on('change', ({ healthy, reason }) => { changes.push(reason === undefined ? { healthy } : { healthy, reason }) })
  t.teardown(() => { health.stop() })
  return { probe, health, lines, changes }
}

async function until (what: string, check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`)
    await sleep(2)
  }
}

t.test('classifyRedisError: the replies and client errors that mean Redis cannot hold leases', async (t) => {
  const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' })
  const cases: Array<[unknown, string | undefined]> = [
    [new Error('Command timed out'), 'timeout'],
    [reply("READONLY You can't write against a read only replica. script: 1f2e, on @user_script:2."), 'readonly'],
    [reply('LOADING Redis is loading the dataset in memory'), 'loading'],
    [reply('CLUSTERDOWN The cluster is down'), 'cluster'],
    [reply('TRYAGAIN Multiple keys request during rehashing of slot'), 'cluster'],
    [reply('MOVED 3999 127.0.0.1:6381'), 'cluster'],
    [reply('ASK 3999 127.0.0.1:6381'), 'cluster'],
    [new Error('Too many Cluster redirections. Last error: ReplyError: MOVED 1 x:1'), 'cluster'],
    [reply('NOAUTH Authentication required.'), 'auth'],
    [reply('WRONGPASS invalid username-password pair or user is disabled.'), 'auth'],
    [reply("OOM command not allowed when used memory > 'maxmemory'."), 'refused'],
    [reply('MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk.'), 'refused'],
    [reply('NOREPLICAS Not enough good replicas to write.'), 'refused'],
    [reply('MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no.'), 'refused'],
    [reply('BUSY Redis is busy running a script.'), 'refused'],
    [new Error('Connection is closed.'), 'connection'],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), 'connection'],
    [Object.assign(new Error('Reached the max retries per request limit (which is 0).'), { name: 'MaxRetriesPerRequestError' }), 'connection'],
    [new Error("Cluster isn't ready and enableOfflineQueue options is false"), 'connection'],
    [new Error('None of startup nodes is available'), 'connection'],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }), 'connection'],
    [Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'connection'],
    [new RedisHealthError('failover', 'the masters changed'), 'failover'],
    // One command's own trouble: the token bucket covers it, the service stays open.
    [reply('WRONGTYPE Operation against a key holding the wrong kind of value'), undefined],
    [reply('ERR Error running script (call to f_1f2e): @user_script:1: user_script:1: bad argument'), undefined],
    [new Error('unexpected lock script result 7'), undefined],
    ['a string', undefined]
  ]
  for (const [err, expected] of cases) {
    t.equal(classifyRedisError(err), expected, `${err instanceof Error ? err.message : String(err)} -> ${expected ?? 'not a Redis failure'}`)
  }
})

t.test('starts closed; three good heartbeats open it, announced once', async (t) => {
  const { health, lines, changes } = harness(t)
  t.equal(health.isHealthy(), false)
  t.same(health.state(), { healthy: false, reason: 'starting', since: health.state().since })
  health.start()
  health.start()
  await until('healthy', () => health.isHealthy())
  t.same(changes, [{ healthy: true }])
  t.same(lines.map((l) => [l.level, l.msg, l.obj.after]), [['info', 'redis healthy: lock routes open', 'starting']])
  t.equal(health.topology, 'standalone')
})

t.test('a failing heartbeat trips it at once; recovery needs three good ones in a row', async (t) => {
  const { probe, health, lines, changes } = harness(t)
  health.start()
  await until('healthy', () => health.isHealthy())
  probe.next = new Error('LOADING Redis is loading the dataset in memory')
  await until('tripped', () => !health.isHealthy())
  t.same(health.state(), { healthy: false, reason: 'loading', since: health.state().since })
  const beats = probe.beats
  await until('more failed heartbeats', () => probe.beats >= beats + 3)
  t.equal(probe.resets, 0, 'LOADING: reconnecting would not help, so no reset')
  probe.next = 'ok'
  await until('healthy again', () => health.isHealthy())
  t.ok(probe.beats >= beats + 3 + 3, 'only after three good heartbeats')
  t.same(changes, [{ healthy: true }, { healthy: false, reason: 'loading' }, { healthy: true }])
  t.same(lines.map((l) => l.msg), ['redis healthy: lock routes open', 'redis unhealthy: lock routes fail closed', 'redis healthy: lock routes open'],
    'each transition logged once, however many heartbeats failed')
  t.match(lines[1]?.obj, { reason: 'loading', topology: 'standalone', err: { message: 'LOADING Redis is loading the dataset in memory' } })
  t.type(lines[2]?.obj.closedForMs, 'number', 'the recovery says how long the routes were closed')
})

t.test('a hung heartbeat: tripped at its deadline, never a second one in flight, the connection reset after the grace', async (t) => {
  const { probe, health } = harness(t)
  health.start()
  await until('healthy', () => health.isHealthy())
  probe.next = 'hang'
  const hungAt = Date.now()
  await until('tripped', () => !health.isHealthy())
  t.ok(Date.now() - hungAt >= 35, 'not before the deadline')
  t.same(health.state().reason, 'timeout')
  await until('a reset', () => probe.resets > 0)
  t.equal(probe.maxInFlight, 1, 'one heartbeat in flight at most')
  t.ok(Date.now() - hungAt >= 60, 'the reset waited for the grace after the trip')
  await sleep(200)
  t.ok(probe.resets <= 1 + 200 / 60, `resets are spaced (${probe.resets})`)
  t.ok(probe.pending() <= 1, 'what the probe holds stays bounded')
  probe.next = 'ok'
  await until('healthy again', () => health.isHealthy())
  t.equal(health.state().reason, undefined)
})

t.test('READONLY resets the connection at once (a DNS or Sentinel endpoint then reaches the new primary)', async (t) => {
  const { probe, health } = harness(t, { resetAfterMs: 1000 })
  health.start()
  await until('healthy', () => health.isHealthy())
  health.report(new Error("READONLY You can't write against a read only replica."))
  t.equal(health.isHealthy(), false, 'a real command\'s READONLY trips it synchronously')
  t.equal(probe.resets, 1)
  health.report(new Error("READONLY You can't write against a read only replica."))
  t.equal(probe.resets, 1, 'but not again within resetAfterMs')
})

t.test('reports: a hard failure trips and restarts the count; an error of one command does not', async (t) => {
  const { probe, health } = harness(t, { intervalMs: 20 })
  health.start()
  await until('healthy', () => health.isHealthy())
  t.equal(health.report(new Error('WRONGTYPE Operation against a key holding the wrong kind of value')), undefined)
  t.equal(health.isHealthy(), true, 'one key\'s wrong type is not an outage')
  t.equal(health.report(new Error('Command timed out')), 'timeout')
  t.equal(health.isHealthy(), false)
  const beats = probe.beats
  await until('two good heartbeats', () => probe.beats >= beats + 2)
  health.report(new Error('Connection is closed.'))
  await until('healthy again', () => health.isHealthy())
  t.ok(probe.beats >= beats + 2 + 3, 'a report amid the good heartbeats started the count again')
})

t.test('a lost connection closes the guard at once, before any heartbeat', async (t) => {
  const { probe, health } = harness(t)
  health.start()
  await until('healthy', () => health.isHealthy())
  probe.up = false
  t.equal(health.isHealthy(), false)
  t.same(health.state().reason, 'connection')
  probe.up = true
  t.equal(health.isHealthy(), true, 'the flag itself never tripped')
})

t.test('start-up: a client still making its first connection is not logged; one that never answers is, once', async (t) => {
  const { probe, health, lines, changes } = harness(t)
  probe.up = false
  health.start()
  await sleep(100)
  t.same(lines, [], 'nothing within the start-up grace')
  t.equal(health.state().reason, 'starting')
  await until('announced', () => lines.length > 0, 4000)
  t.same(lines.map((l) => [l.level, l.msg, l.obj.reason]), [['warn', 'redis unavailable: lock routes fail closed until it answers', 'connection']])
  t.same(changes, [{ healthy: false, reason: 'connection' }])
  await sleep(100)
  t.equal(lines.length, 1, 'once')
  probe.up = true
  await until('healthy', () => health.isHealthy())
  t.same(lines.at(-1)?.obj.after, 'connection')
})

t.test('a timeout seen while this process\'s own event loop was blocked is not blamed on Redis', async (t) => {
  const { probe, health } = harness(t, { timeoutMs: 100 })
  health.start()
  await until('healthy', () => health.isHealthy())
  probe.next = 'hang'
  await until('a heartbeat under way', () => probe.inFlight === 1)
  // A long synchronous task: every timer, the heartbeat's deadline included, fires 300 ms late.
  const blockedUntil = Date.now() + 300
  while (Date.now() < blockedUntil) { /* busy */ }
  t.equal(health.report(new Error('Command timed out')), undefined, 'a real command\'s timeout right after the block is not blamed')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(health.isHealthy(), true, 'nor the heartbeat\'s late deadline')
  await until('tripped by a deadline that fired on time', () => !health.isHealthy())
  t.equal(health.state().reason, 'timeout', 'a server that really hangs still trips it')
  t.equal(health.report(new Error('Command timed out')), 'timeout', 'and a timeout with the loop running freely is blamed')
})

t.test('stop: no heartbeat after it', async (t) => {
  const { probe, health } = harness(t)
  health.start()
  await until('healthy', () => health.isHealthy())
  health.stop()
  const beats = probe.beats
  await sleep(60)
  t.ok(probe.beats <= beats + 1, 'at most the one already under way')
})
