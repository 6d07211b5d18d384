/**
 * A PostgreSQL server for tests: MATRIC_TEST_DATABASE_URL when set, else the local server at
 * postgres://postgres@127.0.0.1:5432/postgres when one answers (.ci/run starts one). Each test file gets a
 * database of its own (random name), dropped afterwards.
 *
 * Policy: without a reachable server the PostgreSQL tests fail under CI=true (a CI machine that silently skipped
 * them would report green for a backend it never ran) and are skipped locally, with a message saying how to run them.
 */
import { afterAll, beforeAll, describe, test } from 'bun:test'
import { createTestDatabase, PG_ADMIN_URL, probe, shown } from './pg-admin.ts'

export { createTestDatabase, PG_ADMIN_URL } from './pg-admin.ts'

const inCI = process.env.CI === 'true'

/** Why no server is usable (null = one answers). Probed once per test file. */
export const pgUnavailable: string | null = await probe(PG_ADMIN_URL)

/** Whether PostgreSQL tests can run here (for `describe.skipIf(!pgAvailable())`). */
export function pgAvailable(): boolean {
  return pgUnavailable === null
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
