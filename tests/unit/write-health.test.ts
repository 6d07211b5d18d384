import { describe, expect, test } from 'bun:test'
import { openDatabase, WriteHealth, writeHealth, WRITE_ERROR_WINDOW_MS } from '../../src/store/sqlite/db.ts'
import { SqliteProbe } from '../../src/store/sqlite/small.ts'
import { writeCheck, WRITE_PROBE_INTERVAL_MS } from '../../src/modules/system/index.ts'
import { createLogger } from '../../src/telemetry/log.ts'

const sqliteError = (code: string, message = code) => Object.assign(new Error(message), { code })

describe('WriteHealth', () => {
  test.each<[string, boolean]>([
    ['SQLITE_FULL', true],
    ['SQLITE_IOERR', true],
    ['SQLITE_IOERR_WRITE', true],
    ['SQLITE_IOERR_FSYNC', true],
    ['SQLITE_READONLY', true],
    ['SQLITE_READONLY_DBMOVED', true],
    ['SQLITE_CANTOPEN', true],
    ['SQLITE_CORRUPT', true],
    ['SQLITE_NOTADB', true],
    ['SQLITE_CONSTRAINT_UNIQUE', false], // the caller's data, not the disk
    ['SQLITE_BUSY', false], // contention, not storage
    ['SQLITE_ERROR', false],
    ['SQLITE_FULLX', false],
    ['ENOENT', false],
  ])('%s counts as a storage failure: %p', (code, expected) => {
    const h = new WriteHealth()
    expect(h.record(sqliteError(code))).toBe(expected)
    expect(h.recent() !== null).toBe(expected)
  })

  test('non-errors are ignored', () => {
    const h = new WriteHealth()
    for (const v of [undefined, null, 'SQLITE_FULL', 42, {}]) expect(h.record(v)).toBe(false)
  })

  test('a failure is reported for the window after it was last seen', () => {
    let now = 1_000_000
    const h = new WriteHealth(WRITE_ERROR_WINDOW_MS, () => now)
    h.record(sqliteError('SQLITE_FULL', 'database or disk is full'))
    expect(h.recent()).toEqual({ code: 'SQLITE_FULL', message: 'database or disk is full', atMs: 1_000_000 })
    now += WRITE_ERROR_WINDOW_MS - 1
    h.record(sqliteError('SQLITE_IOERR_WRITE'))
    now += WRITE_ERROR_WINDOW_MS - 1
    expect(h.recent()?.code).toBe('SQLITE_IOERR_WRITE')
    now += 1
    expect(h.recent()).toBeNull()
  })
})

describe('the connection reports storage failures, whoever catches them', () => {
  test('statements, exec and transactions (with their COMMIT)', () => {
    const big = 'x'.repeat(100_000)
    const attempts: [string, (db: ReturnType<typeof openDatabase>) => unknown][] = [
      ['query().run', (db) => db.query('INSERT INTO t VALUES (?)').run(big)],
      ['prepare().run', (db) => db.prepare('INSERT INTO t VALUES (?)').run(big)],
      ['query().get with RETURNING', (db) => db.query('INSERT INTO t VALUES (?) RETURNING v').get(big)],
      ['run', (db) => db.run(`INSERT INTO t VALUES ('${big}')`)],
      ['exec', (db) => db.exec(`INSERT INTO t VALUES ('${big}')`)],
      ['transaction', (db) => db.transaction(() => db.query('INSERT INTO t VALUES (?)').run(big))()],
      ['transaction.immediate', (db) => db.transaction(() => db.query('INSERT INTO t VALUES (?)').run(big)).immediate()],
    ]
    for (const [name, attempt] of attempts) {
      const db = openDatabase(':memory:')
      db.exec('CREATE TABLE t (v TEXT)')
      const { page_count } = db.query('PRAGMA page_count').get() as { page_count: number }
      db.exec(`PRAGMA max_page_count = ${page_count}`)
      expect(() => attempt(db)).toThrow()
      expect({ name, code: writeHealth(db).recent()?.code }).toEqual({ name, code: 'SQLITE_FULL' })
      db.close()
    }
    // constraint violations are not the disk's health
    const db2 = openDatabase(':memory:')
    db2.exec('CREATE TABLE u (id INTEGER PRIMARY KEY)')
    db2.query('INSERT INTO u VALUES (1)').run()
    expect(() => db2.query('INSERT INTO u VALUES (1)').run()).toThrow()
    expect(writeHealth(db2).recent()).toBeNull()
    // reads and writes still work through the wrappers
    expect(db2.query('SELECT count(*) AS n FROM u').get()).toEqual({ n: 1 })
    expect(db2.transaction((n: number) => db2.query('INSERT INTO u VALUES (?)').run(n).changes)(2)).toBe(1)
    db2.close()
  })
})

describe('writeCheck', () => {
  test('commits a probe at most once per interval, and reports a failed one', async () => {
    const db = openDatabase(':memory:')
    let now = 10_000_000
    const check = writeCheck(new SqliteProbe(db), createLogger('error', () => {}), () => now)
    expect(await check()).toEqual({ write: 'ok' })
    const probed = () => (db.query('SELECT probed_at FROM health_probe').get() as { probed_at: string }).probed_at
    expect(probed()).toBe(new Date(10_000_000).toISOString())
    now += WRITE_PROBE_INTERVAL_MS - 1
    await check()
    expect(probed()).toBe(new Date(10_000_000).toISOString())
    now += 1
    await check()
    expect(probed()).toBe(new Date(now).toISOString())
    db.exec('PRAGMA query_only = ON') // the probe fails (SQLITE_READONLY)
    now += WRITE_PROBE_INTERVAL_MS
    const failed = await check()
    expect(failed.write).toBe('error')
    expect(failed.error?.code).toStartWith('SQLITE_READONLY')
    // the connection saw it too (it stays reported for WRITE_ERROR_WINDOW_MS)
    expect(writeHealth(db).recent()?.code).toStartWith('SQLITE_READONLY')
    db.close()
  })
})
