/**
 * Every store contract against the SQLite backend: one database file per test file (a temporary directory), and
 * each `open()` a separate connection to it — a second instance on the same data.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSqliteStores } from '../../src/store/sqlite/index.ts'
import { DEFAULT_RETENTION, TEST_BOX, type OpenStores } from './harness.ts'
import { storeContracts } from './all.ts'

describe('SQLite stores', () => {
  const dir = mkdtempSync(join(tmpdir(), 'matric-contract-'))
  const path = join(dir, 'matric.db')
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const open: OpenStores = (o = {}) => openSqliteStores(path, { retention: o.retention ?? DEFAULT_RETENTION, box: o.box ?? TEST_BOX })

  test('kind is sqlite', async () => {
    const s = await open()
    try {
      expect(s.kind).toBe('sqlite')
    } finally {
      await s.close()
    }
  })

  storeContracts(open)
})
