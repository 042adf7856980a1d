// TLS to Postgres as managed services demand it: `sslmode` and a CA bundle (`sslrootcert`) in DATABASE_URL.
// The TLS endpoint is a PgBouncer of the test's own with client-side TLS, in front of the local Postgres,
// presenting a certificate for 127.0.0.1 signed by a CA made here with openssl.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { openDatabase, withSystemRoots } from '../../db/client.js'
import { buildTestApp } from '../helpers/app.js'
import { freshDatabase } from '../helpers/database.js'
import { boostPurchaseEvent, deliver } from '../helpers/paddle.js'
import { pgBouncer } from '../helpers/pgbouncer.js'

const log = { info: () => {}, warn: () => {} }
const dir = mkdtempSync(join(tmpdir(), 'bw-tls-'))
// PgBouncer runs as another user when the tests run as root: it must reach its key.
chmodSync(dir, 0o755)
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
const file = (name: string) => join(dir, name)
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' })
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
for (const ca of ['ca', 'other-ca']) openssl('req', '-x509', ...EC, '-keyout', file(`${ca}.key`), '-out', file(`${ca}.pem`), '-days', '2', '-subj', `/CN=bw test ${ca}`)
openssl('req', ...EC, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1')
writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1\n')
openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial',
  '-out', file('server.pem'), '-days', '2', '-extfile', file('san.ext'))
// A bundle, as RDS ships one: several CAs in one file, ours among them.
writeFileSync(file('bundle.pem'), readFileSync(file('other-ca.pem'), 'utf8') + readFileSync(file('ca.pem'), 'utf8'))

const database = await freshDatabase(t)
const bouncer = await pgBouncer(t, { tls: { certFile: file('server.pem'), keyFile: file('server.key') } })
const withParams = (params: string, host = '127.0.0.1') => {
  const url = new URL(bouncer.url(database.url))
  url.hostname = host
  url.search = params
  return url.toString()
}

/** Opens, migrates and pings through the TLS endpoint; the error's message when it cannot. */
async function reach (url: string): Promise<string> {
  let opened
  try {
    opened = await openDatabase({ databaseUrl: url, dataDir: 'unused', poolSize: 1, poolMode: 'transaction' }, log)
    await opened.migrate()
    await opened.ping()
    return 'ok'
  } catch (err) {
    return (err as Error).message
  } finally {
    await opened?.close()
  }
}

t.test('sslmode=verify-full with the CA in sslrootcert: the service runs over TLS', async (t) => {
  const { app } = await buildTestApp(t, {
    database,
    config: { databaseUrl: withParams(`?sslmode=verify-full&sslrootcert=${file('ca.pem')}`), databasePoolMode: 'transaction' }
  })
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200)
  t.equal((await deliver(app, boostPurchaseEvent())).json().status, 'processed')
  const logins = bouncer.lines.filter((line) => line.includes('login attempt'))
  t.ok(logins.length >= 3, `PgBouncer saw the pool, readiness and migration connections (${logins.length} logins)`)
  t.same(logins.filter((line) => !/tls=TLSv1\.[23]/.test(line)), [], 'every one of them over TLS')
})

t.test('a CA bundle in sslrootcert works; a CA that did not sign the server does not', async (t) => {
  t.equal(await reach(withParams(`?sslmode=verify-full&sslrootcert=${file('bundle.pem')}`)), 'ok', 'the bundle')
  t.match(await reach(withParams(`?sslmode=verify-full&sslrootcert=${file('other-ca.pem')}`)), /self[- ]signed|unable to (verify|get)/i, 'the wrong CA is refused')
  t.match(await reach(withParams('?sslmode=verify-full')), /self[- ]signed|unable to (verify|get)/i, 'no CA: Node\'s roots do not know ours')
})

t.test('sslmode is honoured: disable sends no TLS, and this endpoint refuses it', async (t) => {
  t.match(await reach(withParams('?sslmode=disable')), /SSL required/i)
})

t.test('verify-full checks the host name; libpq\'s verify-ca (uselibpqcompat) checks only the CA, as for Cloud SQL by IP', async (t) => {
  t.match(await reach(withParams(`?sslmode=verify-full&sslrootcert=${file('ca.pem')}`, 'localhost')), /does not match|altnames/i)
  t.equal(await reach(withParams(`?uselibpqcompat=true&sslmode=verify-ca&sslrootcert=${file('ca.pem')}`, 'localhost')), 'ok')
})

t.test('sslrootcert=system: the system\'s roots, with verify-full', async (t) => {
  t.equal(withSystemRoots('postgres://u:p@db.example.com/app?sslrootcert=system'), 'postgres://u:p@db.example.com/app?sslmode=verify-full')
  t.equal(withSystemRoots('postgres://u@h/app?sslmode=require'), 'postgres://u@h/app?sslmode=require', 'any other URL is left as it is')
  t.match(await reach(withParams('?sslrootcert=system')), /self[- ]signed|unable to (verify|get)/i, 'our CA is not a system root')
  // As if the operator had installed our CA in the system's store (NODE_EXTRA_CA_CERTS does this for a process).
  const roots = tls.getCACertificates('default')
  tls.setDefaultCACertificates([...roots, readFileSync(file('ca.pem'), 'utf8')])
  t.teardown(() => { tls.setDefaultCACertificates(roots) })
  t.equal(await reach(withParams('?sslrootcert=system')), 'ok')
})
