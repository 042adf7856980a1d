// Ceiling routes for `npm run bench`: the same server, doing only one piece of LVVER's work each.
// Mounted only with BENCH_ROUTES=1 (refused in production); never in a normal deployment.
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import { sql } from 'drizzle-orm'
import { statements } from '../db/statements.js'
import { defineLockCommands } from '../services/lock-store.js'

const benchRoutes: FastifyPluginAsync = async (app) => {
  const { redis, database } = app
  if (redis !== null) defineLockCommands(redis)
  await database.db.execute(sql`create table if not exists bench_inserts (id text primary key, payload jsonb not null)`)

  /** The floor of every route: parse a JSON body, answer. */
  app.post('/bench/noop', async () => ({ ok: true }))

  /** One lease: SET NX PX, then compare-and-delete, as LVVER's lock and unlock would do separately. */
  app.post('/bench/redis-lock', async (_request, reply) => {
    if (redis === null) return reply.code(503).send({ error: 'service_unavailable', message: 'no REDIS_URL' })
    const key = `bench:lock:{${randomUUID()}}`
    const token = randomUUID()
    const taken = await redis.set(key, token, 'PX', 30000, 'NX')
    await redis.bwUnlock(key, token)
    return { ok: taken === 'OK' }
  })

  /** One autocommitted Postgres insert of the body, through the same runner as every catalogue statement. */
  app.post('/bench/pg-insert', async (request) => {
    await database.run(statements.benchInsert, { id: randomUUID(), payload: JSON.stringify(request.body) })
    return { ok: true }
  })
}

export default benchRoutes
