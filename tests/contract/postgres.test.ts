/**
 * Every store contract against the PostgreSQL backend, on a database of this file's own (tests/helpers/pg.ts:
 * skipped locally without a server, failing under CI=true). Each `open()` is a separate pool: a separate instance.
 */
import { SQL } from 'bun'
import { expect, test } from 'bun:test'
import { MIGRATIONS } from '../../src/store/postgres/migrations.ts'
import { openPostgresStores } from '../../src/store/postgres/index.ts'
import { describePg } from '../helpers/pg.ts'
import { DEFAULT_RETENTION, TEST_BOX, type OpenStores } from './harness.ts'
import { storeContracts } from './all.ts'

describePg('PostgreSQL stores', (db) => {
  const open: OpenStores = (o = {}) => openPostgresStores(db.url(), { retention: o.retention ?? DEFAULT_RETENTION, box: o.box ?? TEST_BOX })

  test('kind is postgres; instances starting at once migrate the database once', async () => {
    const all = await Promise.all([open(), open(), open(), open()])
    try {
      for (const s of all) expect(s.kind).toBe('postgres')
      const sql = new SQL(db.url(), { max: 1 })
      try {
        const rows = await sql<{ id: string }[]>`SELECT id FROM schema_migrations ORDER BY id`
        expect(rows.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id))
      } finally {
        await sql.close()
      }
    } finally {
      await Promise.all(all.map((s) => s.close()))
    }
  })

  storeContracts(open)
})
