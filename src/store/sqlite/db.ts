import { Database } from 'bun:sqlite'
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { MIGRATIONS } from './migrations.ts'

/**
 * Opens the SQLite store (WAL, NORMAL sync, FKs on) and brings the schema up to date. Every statement
 * run through it reports storage failures to its WriteHealth (see `writeHealth`).
 */
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
  watchWrites(db, writeHealth(db))
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

/** How long a storage failure keeps /health degraded after it was last seen. */
export const WRITE_ERROR_WINDOW_MS = 60_000

/**
 * Failures of the storage itself, by SQLite result code (extended codes included: SQLITE_IOERR_WRITE,
 * SQLITE_READONLY_DBMOVED…): disk full, I/O errors, a read-only or vanished file, corruption. Not
 * constraint violations or busy locks, which say nothing about whether the disk takes writes.
 */
const STORAGE_FAILURE = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB)(_|$)/

export interface WriteError {
  code: string
  message: string
  atMs: number
}

/** The last storage failure any store met, for /health: the stores and the event log catch and log their own. */
export class WriteHealth {
  private last: WriteError | null = null

  constructor(
    private windowMs = WRITE_ERROR_WINDOW_MS,
    private now: () => number = Date.now,
  ) {}

  /** Remembers `err` when it is a storage failure; returns whether it was one. */
  record(err: unknown): boolean {
    const code = (err as { code?: unknown } | null)?.code
    if (typeof code !== 'string' || !STORAGE_FAILURE.test(code)) return false
    this.last = { code, message: String((err as Error).message ?? code).slice(0, 200), atMs: this.now() }
    return true
  }

  /** The last storage failure, while it is recent (WRITE_ERROR_WINDOW_MS), else null. */
  recent(): WriteError | null {
    return this.last && this.now() - this.last.atMs < this.windowMs ? this.last : null
  }
}

const healthOf = new WeakMap<Database, WriteHealth>()

/** The WriteHealth of a database opened with openDatabase (a new, empty one for any other). */
export function writeHealth(db: Database): WriteHealth {
  let h = healthOf.get(db)
  if (!h) healthOf.set(db, (h = new WriteHealth()))
  return h
}

const WATCHED = Symbol('matric.watched')
const STATEMENT_METHODS = ['run', 'get', 'all', 'values'] as const

/**
 * Reports every storage failure raised through this connection (statements from query/prepare, run/exec,
 * transactions including their COMMIT), whoever catches it afterwards: one place instead of a hook in
 * every store, and the event log, which must never fail the request, swallows its own errors. The cost
 * is one wrapper call per statement execution.
 */
function watchWrites(db: Database, health: WriteHealth): void {
  const guard = <A extends unknown[], R>(fn: (...a: A) => R, self?: unknown) =>
    function (this: unknown, ...a: A): R {
      try {
        return fn.apply(self ?? this, a)
      } catch (e) {
        health.record(e)
        throw e
      }
    }
  const watchStatement = <S extends object>(stmt: S): S => {
    const m = stmt as Record<string | symbol, unknown>
    if (m[WATCHED]) return stmt
    for (const name of STATEMENT_METHODS) {
      const fn = m[name]
      if (typeof fn === 'function') m[name] = guard(fn as (...a: unknown[]) => unknown, stmt)
    }
    m[WATCHED] = true
    return stmt
  }
  const query = db.query.bind(db)
  const prepare = db.prepare.bind(db)
  const transaction = db.transaction.bind(db)
  const d = db as unknown as Record<string, unknown>
  d.query = (sql: string) => watchStatement(query(sql))
  d.prepare = (...a: Parameters<typeof prepare>) => watchStatement(prepare(...a))
  d.run = guard(db.run, db)
  d.exec = guard(db.exec, db)
  d.transaction = (fn: (...a: unknown[]) => unknown) => {
    const tx = transaction(fn) as unknown as Record<string, unknown> & ((...a: unknown[]) => unknown)
    const wrapped = guard(tx) as unknown as Record<string, unknown>
    for (const mode of ['deferred', 'immediate', 'exclusive']) if (typeof tx[mode] === 'function') wrapped[mode] = guard(tx[mode] as (...a: unknown[]) => unknown)
    return wrapped
  }
}
