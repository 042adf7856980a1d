// One fresh Postgres database per test file (tap runs files in parallel processes), dropped at the end.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { ADMIN_DATABASE_URL } from './env.js'

interface Teardown { teardown(fn: () => unknown): void }

export interface TestDatabase {
  url: string
  name: string
  /** A direct client for assertions and fault injection (triggers, pg_terminate_backend...). */
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]>
  /** Runs a statement on the admin database (ALTER DATABASE, pg_terminate_backend...). */
  admin(text: string, values?: unknown[]): Promise<void>
}

export async function freshDatabase (t: Teardown): Promise<TestDatabase> {
  const name = `bw_test_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
  await admin.connect()
  try {
    await admin.query(`create database ${name}`)
  } finally {
    await admin.end()
  }
  const url = new URL(ADMIN_DATABASE_URL)
  url.pathname = `/${name}`
  const pool = new pg.Pool({ connectionString: url.toString(), max: 3 })
  pool.on('error', () => {})
  t.teardown(async () => {
    await pool.end()
    const dropper = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
    await dropper.connect()
    try {
      await dropper.query(`drop database if exists ${name} with (force)`)
    } finally {
      await dropper.end()
    }
  })
  return {
    url: url.toString(),
    name,
    async query<T extends pg.QueryResultRow> (text: string, values?: unknown[]) {
      return (await pool.query<T>(text, values)).rows
    },
    async admin (text: string, values?: unknown[]) {
      const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
      await client.connect()
      try {
        await client.query(text, values)
      } finally {
        await client.end()
      }
    }
  }
}
