import { Database } from 'bun:sqlite'
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { MIGRATIONS } from './migrations.ts'

/** Opens the SQLite store (WAL, NORMAL sync, FKs on) and brings the schema up to date. */
export function openDatabase(path: string): Database {
  // A new data dir is private to this user: it holds every note and the generated JWT secret.
  const onDisk = path !== ':memory:'
  if (onDisk) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    // The data dir may already exist and be world-readable: SQLite would create the file 0644 (umask
    // permitting), and it creates -wal/-shm with the database file's mode. Create it 0600 first.
    closeSync(openSync(path, 'a', 0o600))
    privateFile(path)
  }
  const db = new Database(path, { create: true, strict: true })
  db.exec('PRAGMA journal_mode = WAL')
  db.exec('PRAGMA synchronous = NORMAL')
  db.exec('PRAGMA foreign_keys = ON')
  db.exec('PRAGMA busy_timeout = 5000')
  migrate(db)
  // Left over from a run with looser permissions (or copied in): tighten them too.
  if (onDisk) for (const suffix of ['-wal', '-shm']) if (existsSync(path + suffix)) privateFile(path + suffix)
  return db
}

/** chmod 0600 when group or others have any access. */
function privateFile(path: string): void {
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600)
}

export function migrate(db: Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)')
  const done = new Set((db.query('SELECT id FROM schema_migrations').all() as { id: string }[]).map((r) => r.id))
  for (const m of MIGRATIONS) {
    if (done.has(m.id)) continue
    db.transaction(() => {
      db.exec(m.sql)
      db.query('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)').run(m.id, new Date().toISOString())
    })()
  }
}
