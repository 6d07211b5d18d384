/**
 * The PostgreSQL server the tests use and the databases they create on it, without any bun:test import (so
 * scripts/test.ts can use it too): MATRIC_TEST_DATABASE_URL when set, else the local server at
 * postgres://postgres@127.0.0.1:5432/postgres (.ci/run starts one).
 */
import { SQL } from 'bun'

export const PG_ADMIN_URL = process.env.MATRIC_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'

/** Redacts a password in a URL for messages. */
export const shown = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')

/** Why the server does not answer (null = it answers), within 3 s. */
export async function probe(url: string = PG_ADMIN_URL): Promise<string | null> {
  const sql = new SQL(url, { max: 1, connectionTimeout: 3 })
  try {
    await Promise.race([
      sql`SELECT 1`,
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 3 s')), 3000).unref()),
    ])
    return null
  } catch (err) {
    return err instanceof Error ? err.message : String(err)
  } finally {
    await sql.close({ timeout: 0 }).catch(() => {})
  }
}

/** The URL of `url`'s server with another database. */
function withDatabase(url: string, db: string): string {
  const u = new URL(url)
  u.pathname = `/${db}`
  return u.toString()
}

export interface TestDatabase {
  url: string
  name: string
  drop(): Promise<void>
}

async function admin<T>(fn: (sql: SQL) => Promise<T>): Promise<T> {
  const sql = new SQL(PG_ADMIN_URL, { max: 1 })
  try {
    return await fn(sql)
  } finally {
    await sql.close()
  }
}

/** Drops a database; WITH (FORCE): a leaked connection (a SIGKILLed child's, say) cannot keep it. */
export function dropDatabase(name: string): Promise<void> {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`not a test database name: ${name}`)
  return admin(async (sql) => {
    await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  })
}

/**
 * Creates an empty database named `prefix` + a random suffix; returns its URL and how to drop it. The prefix lets
 * a runner find what a test process left behind (scripts/test.ts), without touching other runs' databases.
 */
export async function createTestDatabase(prefix = 'matric_test_'): Promise<TestDatabase> {
  const name = `${prefix}${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`
  await admin((sql) => sql.unsafe(`CREATE DATABASE ${name}`))
  return { url: withDatabase(PG_ADMIN_URL, name), name, drop: () => dropDatabase(name) }
}

/** Databases whose name starts with `prefix` (letters, digits and `_` only). */
export function databasesLike(prefix: string): Promise<string[]> {
  if (!/^[a-z0-9_]+$/.test(prefix)) throw new Error(`not a test database prefix: ${prefix}`)
  return admin(async (sql) =>
    (await sql<{ datname: string }[]>`SELECT datname FROM pg_database WHERE starts_with(datname, ${prefix}) ORDER BY datname`).map((r) => r.datname),
  )
}
