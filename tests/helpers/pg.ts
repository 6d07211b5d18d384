/**
 * A PostgreSQL server for tests: MATRIC_TEST_DATABASE_URL when set, else the local server at
 * postgres://postgres@127.0.0.1:5432/postgres when one answers (.ci/run starts one). Each test file gets a
 * database of its own (random name), dropped afterwards.
 *
 * Policy: without a reachable server the PostgreSQL tests fail under CI=true (a CI machine that silently skipped
 * them would report green for a backend it never ran) and are skipped locally, with a message saying how to run them.
 */
import { SQL } from 'bun'
import { afterAll, beforeAll, describe, test } from 'bun:test'

export const PG_ADMIN_URL = process.env.MATRIC_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'

const inCI = process.env.CI === 'true'

/** Redacts a password in a URL for messages. */
const shown = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')

async function probe(url: string): Promise<string | null> {
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

/** Why no server is usable (null = one answers). Probed once per test file. */
export const pgUnavailable: string | null = await probe(PG_ADMIN_URL)

/** Whether PostgreSQL tests can run here (for `describe.skipIf(!pgAvailable())`). */
export function pgAvailable(): boolean {
  return pgUnavailable === null
}

/** The URL of `url`'s server with another database. */
function withDatabase(url: string, db: string): string {
  const u = new URL(url)
  u.pathname = `/${db}`
  return u.toString()
}

/** Creates an empty database; returns its URL and how to drop it (WITH (FORCE): a leaked connection cannot keep it). */
export async function createTestDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `matric_test_${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`
  const admin = new SQL(PG_ADMIN_URL, { max: 1 })
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`)
  } finally {
    await admin.close()
  }
  return {
    url: withDatabase(PG_ADMIN_URL, name),
    name,
    async drop() {
      const a = new SQL(PG_ADMIN_URL, { max: 1 })
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await a.close()
      }
    },
  }
}

/**
 * A describe block with a fresh database: `fn` gets `url()`, valid inside its tests and hooks. Without a server:
 * one failing test under CI=true, a skipped block (and a printed reason) otherwise.
 */
export function describePg(name: string, fn: (db: { url(): string }) => void): void {
  if (pgUnavailable !== null) {
    const why = `PostgreSQL tests skipped: no server at ${shown(PG_ADMIN_URL)} (${pgUnavailable}); set MATRIC_TEST_DATABASE_URL`
    if (inCI) {
      describe(name, () => {
        test('a PostgreSQL server answers (required in CI)', () => {
          throw new Error(`CI=true and no PostgreSQL server at ${shown(PG_ADMIN_URL)} (${pgUnavailable}); .ci/run starts one, or set MATRIC_TEST_DATABASE_URL`)
        })
      })
    } else {
      console.warn(why)
      describe.skip(name, () => fn({ url: () => '' }))
    }
    return
  }
  describe(name, () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined
    beforeAll(async () => {
      db = await createTestDatabase()
    })
    afterAll(async () => {
      await db?.drop()
    })
    fn({
      url: () => {
        if (!db) throw new Error('the test database is created in beforeAll')
        return db.url
      },
    })
  })
}
