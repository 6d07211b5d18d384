import type { Database } from 'bun:sqlite'

/** Revoked token ids (stream tokens), persisted so revocation survives restarts; expired rows are pruned. */
export class Revocations {
  private cache = new Set<string>()
  private listeners = new Set<(jti: string) => void>()

  constructor(private db: Database) {
    this.prune()
    for (const r of db.query('SELECT jti FROM revoked_tokens').all() as { jti: string }[]) this.cache.add(r.jti)
  }

  has(jti: string): boolean {
    return this.cache.has(jti)
  }

  revoke(jti: string, expiresAtS: number): void {
    this.db.query('INSERT OR REPLACE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)').run(jti, expiresAtS)
    this.cache.add(jti)
    for (const l of this.listeners) l(jti)
  }

  /** Called on every revocation (open streams close themselves). Returns an unsubscribe function. */
  onRevoke(listener: (jti: string) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Forgets revocations of tokens expired for over a minute (beyond the verifier's clock tolerance). */
  prune(nowS = Math.floor(Date.now() / 1000)): void {
    const rows = this.db.query('DELETE FROM revoked_tokens WHERE expires_at < ? RETURNING jti').all(nowS - 60) as { jti: string }[]
    for (const r of rows) this.cache.delete(r.jti)
  }
}
