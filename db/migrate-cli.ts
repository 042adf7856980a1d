// `npm run db:migrate`: applies the committed migrations and exits.
import pino from 'pino'
import { loadConfig } from '../config.js'
import { openDatabase } from './client.js'

const config = loadConfig()
const log = pino({ level: config.logLevel })
const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 1, poolMode: config.databasePoolMode }, log)
try {
  const { applied } = await database.migrate()
  log.info({ database: database.kind, applied }, 'migrations applied')
} finally {
  await database.close()
}
