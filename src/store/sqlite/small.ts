import type { Database, Statement } from 'bun:sqlite'
import type { RevocationStore } from '../../auth/revocations.ts'
import type { PauseStore } from '../../modules/jobs/store.ts'
import type { StreamTokenRow, StreamTokenStore } from '../../modules/realtime/token-store.ts'
import type { Principal } from '../../auth/principal.ts'
import type { StoreProbe } from '../ports.ts'
import { writeHealth, type WriteHealth } from './db.ts'

/** Paused job scopes on SQLite (port: modules/jobs/store.ts). */
export class SqlitePauseStore implements PauseStore {
  private insert: Statement
  private del: Statement
  private all: Statement

  constructor(private db: Database) {
    this.insert = db.query('INSERT OR IGNORE INTO job_pauses (scope, paused_at, paused_by) VALUES (?, ?, ?)')
    this.del = db.query('DELETE FROM job_pauses WHERE scope = ?')
    this.all = db.query('SELECT scope FROM job_pauses ORDER BY scope')
  }

  async add(scope: string, pausedAt: string, pausedBy: string): Promise<boolean> {
    return this.insert.run(scope, pausedAt, pausedBy).changes > 0
  }

  async remove(scope: string): Promise<boolean> {
    return this.del.run(scope).changes > 0
  }

  async scopes(): Promise<string[]> {
    return (this.all.all() as { scope: string }[]).map((r) => r.scope)
  }

  async memoriesWithData(): Promise<string[]> {
    const rows = this.db.query('SELECT memory FROM notes UNION SELECT memory FROM jobs UNION SELECT memory FROM webhooks ORDER BY memory').all()
    return (rows as { memory: string }[]).map((r) => r.memory)
  }
}

/** Minted stream tokens on SQLite (port: modules/realtime/token-store.ts). */
export class SqliteStreamTokenStore implements StreamTokenStore {
  constructor(private db: Database) {}

  async insert(jti: string, sub: string, memories: Principal['memories'], expiresAtS: number): Promise<void> {
    this.db
      .query('INSERT INTO stream_tokens (jti, sub, memories, expires_at, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(jti, sub, JSON.stringify(memories), expiresAtS, new Date().toISOString())
  }

  async get(jti: string): Promise<StreamTokenRow | null> {
    return this.db.query('SELECT * FROM stream_tokens WHERE jti = ?').get(jti) as StreamTokenRow | null
  }

  async markRevoked(jti: string): Promise<void> {
    this.db.query('UPDATE stream_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL').run(new Date().toISOString(), jti)
  }

  async prune(nowS: number, keep: readonly string[]): Promise<number> {
    return this.db.query('DELETE FROM stream_tokens WHERE expires_at < ? AND jti NOT IN (SELECT value FROM json_each(?))').run(nowS, JSON.stringify(keep)).changes
  }
}

/** Revoked token ids on SQLite (port: auth/revocations.ts). */
export class SqliteRevocationStore implements RevocationStore {
  constructor(private db: Database) {}

  async add(jti: string, expiresAtS: number): Promise<void> {
    this.db.query('INSERT OR REPLACE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)').run(jti, expiresAtS)
  }

  async all(): Promise<string[]> {
    return (this.db.query('SELECT jti FROM revoked_tokens').all() as { jti: string }[]).map((r) => r.jti)
  }

  async prune(beforeS: number): Promise<string[]> {
    return (this.db.query('DELETE FROM revoked_tokens WHERE expires_at < ? RETURNING jti').all(beforeS) as { jti: string }[]).map((r) => r.jti)
  }
}

/**
 * The SQLite store's health probe: a read, then the write lock taken without writing (BEGIN IMMEDIATE: a
 * read-only or locked-out file shows); and a real committed write of the single health_probe row.
 */
export class SqliteProbe implements StoreProbe {
  private health: WriteHealth

  constructor(private db: Database) {
    this.health = writeHealth(db)
  }

  async read(): Promise<void> {
    this.db.query('SELECT max(seq) AS seq FROM events').get()
    // Inside someone's open transaction the write probe would fail for the wrong reason; reading is enough then.
    if (this.db.inTransaction) return
    this.db.exec('BEGIN IMMEDIATE')
    try {
      // Deletes nothing, but needs a writable store (read-only files and mounts fail here).
      this.db.exec('DELETE FROM events WHERE 0')
    } finally {
      this.db.exec('ROLLBACK')
    }
  }

  recentFailure(): { code: string; message: string; atMs: number } | undefined {
    return this.health.recent() ?? undefined
  }

  async write(nowIso: string): Promise<void> {
    this.db.query('INSERT INTO health_probe (id, probed_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at').run(nowIso)
  }
}
