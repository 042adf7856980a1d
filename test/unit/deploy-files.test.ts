// The deployment files cannot be built or applied here, so their load-bearing properties are checked as data.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { readFile, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { CONFIG_VARIABLES, loadConfig } from '../../config.js'
import { DEFAULT_TEST_DATABASE_URL, DEFAULT_TEST_REDIS_URL } from '../helpers/env.js'
import { copyAssets } from '../../scripts/copy-assets.mjs'

const root = new URL('../../', import.meta.url)

const METRICS = [
  'webhook_events_total',
  'webhook_processing_seconds',
  'webhook_lock_contention_total',
  'security_fail_closed_total',
  'redis_lock_fallback_total',
  'local_rate_limiter_requests_total',
  'lock_ttl_exhausted_total',
  'redis_up',
  'webhook_inbox_events',
  'webhook_inbox_oldest_seconds',
  'retention_deleted_total',
  'reconcile_events_total',
  'reconcile_lag_seconds'
]
const ENV_NAMES = new Set(CONFIG_VARIABLES)
const SECRET_NAMES = ['PADDLE_WEBHOOK_SECRET', 'ADMIN_API_TOKEN', 'DATABASE_URL', 'REDIS_URL']

type Mapping = Record<string, unknown>

function mapping (value: unknown, what: string): Mapping {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Mapping
  throw new Error(`${what}: expected a mapping`)
}

function sequence (value: unknown, what: string): unknown[] {
  if (Array.isArray(value)) return value
  throw new Error(`${what}: expected a list`)
}

/** Follows a dotted path through mappings; undefined as soon as a step is missing. */
function at (value: unknown, path: string): unknown {
  let current = value
  for (const step of path.split('.')) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined
    current = (current as Mapping)[step]
  }
  return current
}

function text (value: unknown, what: string): string {
  if (typeof value === 'string') return value
  throw new Error(`${what}: expected a string`)
}

async function readText (path: string): Promise<string> {
  return readFile(new URL(path, root), 'utf8')
}

/** YAML files under a directory (given with a trailing slash), as paths from the repo root. */
async function yamlFiles (dir: string): Promise<string[]> {
  const names = await readdir(new URL(dir, root), { recursive: true })
  return names.filter((name) => /\.ya?ml$/.test(name)).map((name) => `${dir}${name}`).sort()
}

async function loadYaml (path: string): Promise<unknown[]> {
  const documents = parseAllDocuments(await readText(path))
  if (!Array.isArray(documents)) return []
  for (const document of documents) {
    if (document.errors.length > 0) throw new Error(`${path}: ${document.errors.map((e) => e.message).join('; ')}`)
  }
  return documents.map((document) => document.toJS())
}

async function k8sObject (kind: string): Promise<Mapping> {
  for (const path of await yamlFiles('deploy/k8s/')) {
    for (const document of await loadYaml(path)) {
      if (at(document, 'kind') === kind) return mapping(document, path)
    }
  }
  throw new Error(`no ${kind} in deploy/k8s`)
}

const validSecrets = {
  PADDLE_WEBHOOK_SECRET: 'pdl_ntfset_test',
  ADMIN_API_TOKEN: 'admin-token-of-at-least-32-characters',
  DATABASE_URL: 'postgres://u:p@db:5432/billing',
  REDIS_URL: 'redis://redis:6379'
}

t.test('every YAML file in deploy/ and docker-compose.yml parses without errors', async (t) => {
  const paths = [...await yamlFiles('deploy/'), 'docker-compose.yml']
  for (const expected of [
    'deploy/k8s/deployment.yaml', 'deploy/k8s/service.yaml', 'deploy/k8s/pdb.yaml',
    'deploy/k8s/secret.example.yaml', 'deploy/k8s/configmap.yaml', 'deploy/prometheus/alerts.yml'
  ]) {
    t.ok(paths.includes(expected), `${expected} exists`)
  }
  for (const path of paths) {
    const documents = parseAllDocuments(await readText(path))
    t.ok(Array.isArray(documents) && documents.length > 0, `${path} has a document`)
    if (!Array.isArray(documents)) continue
    for (const document of documents) {
      t.same(document.errors.map((e) => e.message), [], `${path} has no parse errors`)
      t.same(document.warnings.map((e) => e.message), [], `${path} has no parse warnings`)
    }
  }
})

t.test('the Deployment probes the health routes and never restarts on Redis', async (t) => {
  const deployment = await k8sObject('Deployment')
  const containers = sequence(at(deployment, 'spec.template.spec.containers'), 'containers')
  t.equal(containers.length, 1, 'one container')
  const container = mapping(containers[0], 'container')
  const port = sequence(container.ports, 'ports').map((p) => mapping(p, 'port')).find((p) => p.name === 'http')
  t.equal(port?.containerPort, 3000, 'the http port is 3000')

  t.equal(at(container, 'livenessProbe.httpGet.path'), '/health/live', 'liveness on /health/live')
  t.equal(at(container, 'readinessProbe.httpGet.path'), '/health/ready', 'readiness on /health/ready')
  const startupPath = at(container, 'startupProbe.httpGet.path')
  t.ok(startupPath === '/health/live' || startupPath === '/health/ready', 'startup probe on a health route')
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const portRef = at(container, `${probe}.httpGet.port`)
    t.ok(portRef === 'http' || portRef === 3000, `${probe} targets the app port`)
  }
  const period = Number(at(container, 'startupProbe.periodSeconds') ?? 10)
  const failures = Number(at(container, 'startupProbe.failureThreshold') ?? 3)
  t.ok(period * failures >= 60, `startup probe allows migrations at least a minute (${period * failures} s)`)
  t.notMatch(JSON.stringify(deployment), /\/health\/security/, 'no probe uses /health/security')
  t.ok(Number(at(deployment, 'spec.replicas')) >= 3, 'at least 3 replicas')
})

t.test('shutdown: preStop sleep, then a grace period longer than the longest lock TTL', async (t) => {
  const deployment = await k8sObject('Deployment')
  const configMap = await k8sObject('ConfigMap')
  const config = loadConfig({ ...mapping(configMap.data, 'data') as Record<string, string>, ...validSecrets, NODE_ENV: 'production' })
  const container = mapping(sequence(at(deployment, 'spec.template.spec.containers'), 'containers')[0], 'container')
  const command = sequence(at(container, 'lifecycle.preStop.exec.command'), 'preStop command').join(' ')
  const sleep = /\bsleep (\d+)\b/.exec(command)?.[1]
  t.ok(sleep !== undefined, 'preStop sleeps')
  const preStopSeconds = Number(sleep ?? 0)
  t.ok(preStopSeconds >= 3, 'preStop waits for endpoints to drop the pod')

  const grace = Number(at(deployment, 'spec.template.spec.terminationGracePeriodSeconds'))
  t.ok(grace > 60, `terminationGracePeriodSeconds (${grace}) > 60`)
  t.ok(grace > config.lockTtlExtendedSeconds + preStopSeconds, 'grace covers preStop and the extended lock TTL')
  t.ok(grace > preStopSeconds + config.shutdownGraceMs / 1000, 'SIGKILL never cuts the app\'s own shutdown grace short')
})

t.test('the pod runs as non-root with a read-only root filesystem', async (t) => {
  const deployment = await k8sObject('Deployment')
  const pod = mapping(at(deployment, 'spec.template.spec'), 'pod spec')
  const container = mapping(sequence(pod.containers, 'containers')[0], 'container')
  t.equal(at(pod, 'securityContext.runAsNonRoot'), true, 'runAsNonRoot')
  // With a named USER in the image, the kubelet can only verify non-root from a numeric uid.
  const uid = at(container, 'securityContext.runAsUser') ?? at(pod, 'securityContext.runAsUser')
  t.ok(typeof uid === 'number' && uid > 0, 'runAsUser is a numeric non-root uid')
  t.equal(at(container, 'securityContext.readOnlyRootFilesystem'), true, 'read-only root filesystem')
  t.equal(at(container, 'securityContext.allowPrivilegeEscalation'), false, 'no privilege escalation')
  t.same(at(container, 'securityContext.capabilities.drop'), ['ALL'], 'all capabilities dropped')
  t.ok(at(container, 'resources.requests.memory') !== undefined && at(container, 'resources.limits.memory') !== undefined,
    'memory requests and limits set')
  const annotations = mapping(at(deployment, 'spec.template.metadata.annotations'), 'annotations')
  t.equal(annotations['prometheus.io/scrape'], 'true', 'Prometheus scrapes the pods')
  t.equal(annotations['prometheus.io/path'], '/metrics', 'at /metrics')
  t.equal(annotations['prometheus.io/port'], '3000', 'on the app port')
})

t.test('labels and selectors agree across Deployment, Service and PodDisruptionBudget', async (t) => {
  const deployment = await k8sObject('Deployment')
  const service = await k8sObject('Service')
  const pdb = await k8sObject('PodDisruptionBudget')
  const podLabels = mapping(at(deployment, 'spec.template.metadata.labels'), 'pod labels')
  t.equal(podLabels['app.kubernetes.io/name'], 'billing-webhooks', 'pods carry the name label')
  const selectors = {
    deployment: at(deployment, 'spec.selector.matchLabels'),
    service: at(service, 'spec.selector'),
    pdb: at(pdb, 'spec.selector.matchLabels')
  }
  for (const [name, selector] of Object.entries(selectors)) {
    for (const [key, value] of Object.entries(mapping(selector, `${name} selector`))) {
      t.equal(podLabels[key], value, `${name} selects the pods by ${key}`)
    }
  }
  const targetPort = at(sequence(at(service, 'spec.ports'), 'service ports')[0], 'targetPort')
  t.ok(targetPort === 'http' || targetPort === 3000, 'the Service targets the app port')
  const replicas = Number(at(deployment, 'spec.replicas'))
  const maxUnavailable = at(pdb, 'spec.maxUnavailable')
  const minAvailable = at(pdb, 'spec.minAvailable')
  const available = typeof maxUnavailable === 'number' ? replicas - maxUnavailable : Number(minAvailable)
  t.ok(available >= 2 && available < replicas, `a drain keeps ${available} of ${replicas} replicas and can still proceed`)
})

t.test('environment: known variables only, secrets from the Secret, example values refused', async (t) => {
  const deployment = await k8sObject('Deployment')
  const configMap = await k8sObject('ConfigMap')
  const secret = await k8sObject('Secret')
  const container = mapping(sequence(at(deployment, 'spec.template.spec.containers'), 'containers')[0], 'container')
  const data = mapping(configMap.data, 'ConfigMap data')
  for (const key of Object.keys(data)) t.ok(ENV_NAMES.has(key), `ConfigMap key ${key} is a known variable`)
  for (const key of SECRET_NAMES) t.notOk(key in data, `${key} is not in the ConfigMap`)
  const fromConfigMap = sequence(container.envFrom, 'envFrom').map((e) => at(e, 'configMapRef.name'))
  t.ok(fromConfigMap.includes(at(configMap, 'metadata.name')), 'the Deployment reads the ConfigMap')

  const secretKeys = Object.keys(mapping(secret.stringData ?? secret.data, 'Secret data'))
  const env = sequence(container.env, 'env').map((e) => mapping(e, 'env entry'))
  for (const name of SECRET_NAMES) {
    const entry = env.find((e) => e.name === name)
    t.equal(at(entry, 'valueFrom.secretKeyRef.name'), at(secret, 'metadata.name'), `${name} comes from the Secret`)
    t.ok(secretKeys.includes(text(at(entry, 'valueFrom.secretKeyRef.key'), name)), `the Secret has a ${name} key`)
  }
  for (const entry of env) t.ok(ENV_NAMES.has(text(entry.name, 'env name')), `${String(entry.name)} is a known variable`)

  t.doesNotThrow(() => loadConfig({ ...data as Record<string, string>, ...validSecrets, NODE_ENV: 'production' }),
    'the ConfigMap values are valid')
  const exampleValues = mapping(secret.stringData, 'example stringData') as Record<string, string>
  t.throws(() => loadConfig({ ...data as Record<string, string>, ...exampleValues, NODE_ENV: 'production' }),
    'a pod started with the unedited example Secret refuses to start')
})

t.test('docker-compose: healthy Postgres and Redis before the app, which points at them', async (t) => {
  const [compose] = await loadYaml('docker-compose.yml')
  const services = mapping(at(compose, 'services'), 'services')
  for (const name of ['postgres', 'redis']) {
    t.ok(at(services, `${name}.healthcheck.test`) !== undefined, `${name} has a healthcheck`)
    t.equal(at(services, `app.depends_on.${name}.condition`), 'service_healthy', `app waits for a healthy ${name}`)
  }
  t.match(text(at(services, 'postgres.image'), 'postgres image'), /^postgres:16/, 'Postgres 16')
  t.match(text(at(services, 'redis.image'), 'redis image'), /^redis:7/, 'Redis 7')
  const redisCommand = sequence(at(services, 'redis.command'), 'redis command')
  t.equal(redisCommand[redisCommand.indexOf('--save') + 1], '', 'Redis saves no snapshots')
  t.equal(redisCommand[redisCommand.indexOf('--appendonly') + 1], 'no', 'Redis keeps no append-only file')
  const env = mapping(at(services, 'app.environment'), 'app environment') as Record<string, string>
  for (const key of Object.keys(env)) t.ok(ENV_NAMES.has(key), `${key} is a known variable`)
  t.equal(new URL(text(env.DATABASE_URL, 'DATABASE_URL')).hostname, 'postgres', 'DATABASE_URL points at the postgres service')
  t.equal(new URL(text(env.REDIS_URL, 'REDIS_URL')).hostname, 'redis', 'REDIS_URL points at the redis service')
  // The image sets NODE_ENV=production, where a webhook secret is required.
  t.doesNotThrow(() => loadConfig({ ...env, NODE_ENV: 'production' }), 'the app environment is a valid production config')
  const ports = sequence(at(services, 'app.ports'), 'app ports').map(String)
  t.ok(ports.some((p) => p.endsWith(':3000')), 'the app publishes port 3000')
  // A file compose names in the image: dist/ holds what `npm run build` puts there; anything else needs a COPY.
  const runtime = dockerStages(await readText('Dockerfile')).at(-1)
  const copied = (runtime?.instructions ?? []).filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).map((i) => i.args)
  const assets = mkdtempSync(join(tmpdir(), 'bw-assets-'))
  t.teardown(() => { rmSync(assets, { recursive: true, force: true }) })
  copyAssets(assets)
  for (const [key, value] of Object.entries(env)) {
    if (!value.startsWith('/app/')) continue
    const file = value.slice('/app/'.length)
    const inImage = file.startsWith('dist/')
      ? existsSync(join(assets, file.slice('dist/'.length)))
      : copied.some((args) => args.split(/\s+/).includes(file))
    t.ok(inImage, `${key} names ${value}, which the image has`)
  }
  // podman-compose does not wait for service_healthy: an app that meets a slow Postgres exits 1, and comes back.
  t.ok(['on-failure', 'unless-stopped', 'always'].includes(String(at(services, 'app.restart'))), 'the app restarts on failure')
})

/** The host address and port compose publishes a container port on ("127.0.0.1:5432:5432"). */
function published (service: unknown, containerPort: number): { host: string, port: number } | undefined {
  for (const entry of sequence(at(service, 'ports'), 'ports').map(String)) {
    const match = /^(?:(.+):)?(\d+):(\d+)(?:\/tcp)?$/.exec(entry)
    if (match !== null && Number(match[3]) === containerPort) return { host: match[1] ?? '0.0.0.0', port: Number(match[2]) }
  }
  return undefined
}

/** The Postgres role, password and databases the official image creates from its environment. */
function postgresImageAccess (service: unknown): { user: string, password: string | undefined, trust: boolean, databases: string[] } {
  const env = mapping(at(service, 'environment'), 'postgres environment') as Record<string, string>
  const user = env.POSTGRES_USER ?? 'postgres'
  return { user, password: env.POSTGRES_PASSWORD, trust: env.POSTGRES_HOST_AUTH_METHOD === 'trust', databases: ['postgres', env.POSTGRES_DB ?? user] }
}

t.test("docker-compose gives Postgres and Redis the credentials and ports the README's test command uses", async (t) => {
  const readme = await readText('README.md')
  const tests = readme.slice(readme.indexOf('\n## Tests\n'), readme.indexOf('\n## ', readme.indexOf('\n## Tests\n') + 1))
  const command = /```sh\n([\s\S]*?)```/.exec(tests)?.[1] ?? ''
  t.match(command, /^docker compose up -d postgres redis$/m, 'the README starts them with compose')
  t.match(command, /\bnpm test\b/, 'then runs npm test')
  t.notMatch(command, /TEST_(DATABASE|REDIS)_URL=/, 'with the defaults, no override')
  t.equal(/`TEST_DATABASE_URL` \(default `([^`]+)`/.exec(tests)?.[1], DEFAULT_TEST_DATABASE_URL, 'the README states the real Postgres default')
  t.equal(/`TEST_REDIS_URL` \(default `([^`]+)`/.exec(tests)?.[1], DEFAULT_TEST_REDIS_URL, 'the README states the real Redis default')

  const [compose] = await loadYaml('docker-compose.yml')
  const services = mapping(at(compose, 'services'), 'services')
  const postgres = new URL(DEFAULT_TEST_DATABASE_URL)
  t.same(published(services.postgres, 5432), { host: postgres.hostname, port: Number(postgres.port) }, `Postgres is published on ${postgres.host}`)
  const access = postgresImageAccess(services.postgres)
  t.equal(access.user, postgres.username, `the role is ${postgres.username}`)
  t.ok(access.databases.includes(postgres.pathname.slice(1)), `the database ${postgres.pathname.slice(1)} exists`)
  // The suite puts passwords of its own into the URLs it hands the service (to look for them in the logs),
  // so only trust authentication lets those connect.
  t.equal(postgres.password, '', 'the tests connect without a password')
  t.ok(access.trust, 'compose\'s Postgres trusts connections, as the suite needs')

  const redis = new URL(DEFAULT_TEST_REDIS_URL)
  t.same(published(services.redis, 6379), { host: redis.hostname, port: Number(redis.port) }, `Redis is published on ${redis.host}`)
  const redisCommand = sequence(at(services, 'redis.command'), 'redis command').map(String)
  t.notOk(redisCommand.includes('--requirepass'), 'Redis needs no password, as the tests connect without one')

  // The app's own URL must fit the same server, reached inside the compose network.
  const app = new URL(text(at(services, 'app.environment.DATABASE_URL'), 'app DATABASE_URL'))
  t.equal(app.username, access.user, 'the app connects with the role compose creates')
  t.ok(access.databases.includes(app.pathname.slice(1)), `the app's database ${app.pathname.slice(1)} exists`)
  t.ok(access.trust || app.password === access.password, 'with a password the server accepts')
  t.equal(Number(app.port || 5432), 5432, 'on the container port')
})

t.test('every alert names a known metric and carries a summary and a runbook', async (t) => {
  const [rules] = await loadYaml('deploy/prometheus/alerts.yml')
  const alerts = sequence(at(rules, 'groups'), 'groups')
    .flatMap((group) => sequence(at(group, 'rules'), 'rules'))
    .map((rule) => mapping(rule, 'rule'))
  t.ok(alerts.length >= 5, 'at least five alerts')
  const names = alerts.map((rule) => text(rule.alert, 'alert name'))
  t.equal(new Set(names).size, names.length, 'alert names are unique')
  const covered = new Set<string>()
  for (const rule of alerts) {
    const name = String(rule.alert)
    const expr = text(rule.expr, `${name} expr`)
    const used = METRICS.filter((metric) => new RegExp(`\\b${metric}(_bucket|_sum|_count)?\\b`).test(expr))
    t.ok(used.length > 0, `${name} uses a known metric`)
    for (const metric of used) covered.add(metric)
    // A misspelt counter silently never fires: every metric-like name must be a known one.
    for (const token of expr.match(/\b[a-z_]+_(total|bucket|sum|count|up)\b/g) ?? []) {
      t.ok(METRICS.some((metric) => token === metric || token.startsWith(`${metric}_`)), `${name}: ${token} is a known metric`)
    }
    t.ok(text(at(rule, 'annotations.summary'), `${name} summary`).length > 0, `${name} has a summary`)
    t.ok(text(at(rule, 'annotations.runbook'), `${name} runbook`).length > 0, `${name} has a runbook`)
    t.ok(typeof at(rule, 'labels.severity') === 'string', `${name} has a severity`)
  }
  for (const metric of ['security_fail_closed_total', 'redis_lock_fallback_total', 'local_rate_limiter_requests_total',
    'lock_ttl_exhausted_total', 'redis_up', 'webhook_inbox_events', 'webhook_inbox_oldest_seconds', 'reconcile_lag_seconds']) {
    t.ok(covered.has(metric), `some alert watches ${metric}`)
  }
  const exhausted = alerts.find((rule) => String(rule.expr).includes('local_rate_limiter_requests_total'))
  t.match(String(exhausted?.expr), /result="rejected"/, 'the fallback-exhausted alert counts rejections only')
  const redisDown = alerts.find((rule) => /\bredis_up\s*==\s*0\b/.test(String(rule.expr)))
  t.equal(redisDown?.for, '1m', 'Redis down alerts after 1m')
})

/** Dockerfile instructions per stage, with continuations joined and comments dropped. */
function dockerStages (source: string): Array<{ from: string, instructions: Array<{ op: string, args: string }> }> {
  const lines = source.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((line) => line.trim())
  const stages: Array<{ from: string, instructions: Array<{ op: string, args: string }> }> = []
  for (const line of lines) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^(\w+)\s+(.*)$/.exec(line)
    if (match === null) continue
    const op = (match[1] ?? '').toUpperCase()
    const args = match[2] ?? ''
    if (op === 'FROM') stages.push({ from: args, instructions: [] })
    else stages.at(-1)?.instructions.push({ op, args })
  }
  return stages
}

t.test('the Dockerfile ships production dependencies only and runs node as a non-root user', async (t) => {
  const stages = dockerStages(await readText('Dockerfile'))
  t.ok(stages.length >= 2, 'multi-stage')
  const final = stages.at(-1)
  if (final === undefined) return
  const first = stages[0]
  t.match(first?.instructions.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n') ?? '', /npm ci/, 'the build stage uses npm ci')
  t.match(final.from, /^node:24-(bookworm-slim|alpine)\b/, 'the final stage is the official Node 24 image')
  const all = (op: string): string[] => final.instructions.filter((i) => i.op === op).map((i) => i.args)

  const user = all('USER').at(-1)
  t.ok(user !== undefined && !/^(root|0)(:|$)/.test(user), `final USER is non-root (${String(user)})`)
  const runs = all('RUN').join('\n')
  t.match(runs, /npm ci\b[^\n]*--omit=dev/, 'production dependencies only')
  t.match(runs, /npm ci\b[^\n]*--omit=optional/, 'no optional packages (see the next test)')
  t.notMatch(runs, /--only=production/, 'not the deprecated --only=production')
  t.notMatch(runs, /npm (install|i)\b/, 'the lockfile decides the versions')
  t.ok(all('ENV').some((env) => /\bNODE_ENV=production\b/.test(env)), 'NODE_ENV=production')
  t.ok(all('EXPOSE').includes('3000'), 'EXPOSE 3000')
  t.ok(all('COPY').some((copy) => /--from=\S+\s+\S*dist\b/.test(copy)), 'dist/ comes from the build stage')

  const cmd = all('CMD').at(-1)
  const argv: unknown = JSON.parse(cmd ?? 'null')
  t.same(argv, ['node', 'dist/server.js'], 'CMD execs node directly, so node receives SIGTERM')
  t.equal(all('ENTRYPOINT').length, 0, 'no entrypoint wraps node')
  const healthcheck = all('HEALTHCHECK').join(' ')
  t.match(healthcheck, /CMD \["node"/, 'healthcheck uses node, not curl')
  t.match(healthcheck, /\/health\/live/, 'healthcheck on /health/live')

  const ignored = (await readText('.dockerignore')).split(/\r?\n/).map((line) => line.trim())
  for (const entry of ['node_modules', 'dist', '.git', '.data']) t.ok(ignored.includes(entry), `.dockerignore has ${entry}`)
})

/** Whether .dockerignore keeps `path` out of the build context: the last pattern that matches decides. */
function dockerIgnores (patterns: string[], path: string): boolean {
  let excluded = false
  for (const line of patterns) {
    if (line === '' || line.startsWith('#')) continue
    const negated = line.startsWith('!')
    const pattern = negated ? line.slice(1) : line
    const glob = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`)
    if (glob.test(path) || (!pattern.includes('/') && glob.test(path.slice(path.lastIndexOf('/') + 1)))) excluded = !negated
  }
  return excluded
}

t.test('what npm run build runs in the build stage is in the build context', async (t) => {
  const patterns = (await readText('.dockerignore')).split(/\r?\n/).map((line) => line.trim())
  t.ok(dockerIgnores(patterns, 'scripts/send-sample.ts') && dockerIgnores(patterns, 'README.md'), 'the matcher sees what is left out')
  const build = text(at(JSON.parse(await readText('package.json')), 'scripts.build'), 'build script')
  const files = [...build.matchAll(/\bnode\s+(\S+\.[cm]?js)\b/g)].map((match) => match[1] ?? '')
  const project = text(/-p\s+(\S+)/.exec(build)?.[1], 'tsc project')
  for (const file of [...files, project, 'catalog.example.json', 'db/migrations/meta/_journal.json']) {
    t.notOk(dockerIgnores(patterns, file), `${file} reaches the build stage`)
  }
})

// What `--omit=optional` leaves out of the runtime image, on top of `--omit=dev`, and why the service can do without.
const OPTIONAL_NOT_LOADED: Record<string, string> = {
  'pg-cloudflare': 'pg requires it only inside a Cloudflare Worker',
  '@types/pg': 'type definitions, an optional peer of drizzle-orm',
  '@types/node': 'type definitions, reached through @types/pg',
  'undici-types': 'type definitions, reached through @types/node'
}

t.test('the optional packages the runtime image omits are only ones the service never loads', async (t) => {
  const lock = mapping(JSON.parse(await readText('package-lock.json')), 'package-lock.json')
  const packages = mapping(lock.packages, 'lock packages')
  // npm marks a package optional, or devOptional when it is reached through both; --omit=dev keeps those.
  const omitted = Object.entries(packages)
    .filter(([path, entry]) => path !== '' && at(entry, 'dev') !== true && (at(entry, 'optional') === true || at(entry, 'devOptional') === true))
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))
  t.ok(omitted.includes('pg-cloudflare'), 'pg-cloudflare is among them (the check sees the lockfile)')
  for (const name of omitted) {
    t.ok(name in OPTIONAL_NOT_LOADED, `${name} is known to be unused at run time: a new optional package needs a look before the image drops it`)
  }
  // What the build compiles (tsconfig.build.json) is what the image runs.
  const build = mapping(JSON.parse(await readText('tsconfig.build.json')), 'tsconfig.build.json')
  const roots = sequence(build.include, 'include').map(String)
  const files: string[] = []
  for (const entry of roots) {
    if (entry.endsWith('.ts')) files.push(entry)
    else files.push(...(await readdir(new URL(`${entry}/`, root), { recursive: true })).filter((n) => n.endsWith('.ts')).map((n) => `${entry}/${n}`))
  }
  t.ok(files.includes('server.ts') && files.includes('db/client.ts'), `the service's ${files.length} source files are read`)
  const sources = (await Promise.all(files.map(readText))).join('\n')
  for (const name of Object.keys(OPTIONAL_NOT_LOADED)) {
    t.notMatch(sources, new RegExp(`(from|import\\(|require\\() *'${name}'`), `the service does not load ${name}`)
  }
})
