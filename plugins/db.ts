// Opens Postgres (or PGlite), applies migrations before the app serves, closes on shutdown.
import fp from 'fastify-plugin'
import { openDatabase, type Database } from '../db/client.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Runs the statement catalogue (db/statements.ts); `database.db` is drizzle, for migrations and tests. */
    database: Database
  }
}

export default fp(async function dbPlugin (app) {
  const { config } = app
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    poolMode: config.databasePoolMode
  }, app.log)
  try {
    await database.migrate()
  } catch (err) {
    await database.close()
    throw err
  }
  app.log.info({ database: database.kind, poolMode: database.poolMode, namedStatements: database.namedStatements }, 'database ready, migrations applied')
  app.decorate('database', database)
  app.addHook('onClose', async () => { await database.close() })
}, { name: 'db', dependencies: ['config'] })
