import type { SQL } from 'bun'
import type { RevocationStore } from '../../auth/revocations.ts'
import type { Principal } from '../../auth/principal.ts'
import type { StreamTokenRow, StreamTokenStore } from '../../modules/realtime/token-store.ts'
import { num } from './util.ts'

/** Minted stream tokens (subject, memories, expiry), as in the SQLite store. */
export class PgStreamTokenStore implements StreamTokenStore {
  constructor(private sql: SQL) {}

  async insert(jti: string, sub: string, memories: Principal['memories'], expiresAtS: number): Promise<void> {
    await this.sql`INSERT INTO stream_tokens (jti, sub, memories, expires_at, created_at)
      VALUES (${jti}, ${sub}, ${JSON.stringify(memories)}, ${expiresAtS}, ${new Date().toISOString()})`
  }

  async get(jti: string): Promise<StreamTokenRow | null> {
    const [r] = await this.sql<(Omit<StreamTokenRow, 'expires_at'> & { expires_at: string })[]>`
      SELECT jti, sub, memories, expires_at, created_at, revoked_at FROM stream_tokens WHERE jti = ${jti}`
    return r ? { ...r, expires_at: num(r.expires_at) } : null
  }

  async markRevoked(jti: string): Promise<void> {
    await this.sql`UPDATE stream_tokens SET revoked_at = ${new Date().toISOString()} WHERE jti = ${jti} AND revoked_at IS NULL`
  }

  async prune(nowS: number, keep: readonly string[]): Promise<number> {
    return (await this.sql`DELETE FROM stream_tokens WHERE expires_at < ${nowS} AND jti <> ALL(${this.sql.array([...keep], 'TEXT')})`).count
  }
}

/** Revoked stream-token ids, until their token expires. */
export class PgRevocationStore implements RevocationStore {
  constructor(private sql: SQL) {}

  async add(jti: string, expiresAtS: number): Promise<void> {
    await this.sql`INSERT INTO revoked_tokens (jti, expires_at) VALUES (${jti}, ${expiresAtS})
      ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at`
  }

  async all(): Promise<string[]> {
    return (await this.sql<{ jti: string }[]>`SELECT jti FROM revoked_tokens ORDER BY jti`).map((r) => r.jti)
  }

  async prune(beforeS: number): Promise<string[]> {
    return (await this.sql<{ jti: string }[]>`DELETE FROM revoked_tokens WHERE expires_at < ${beforeS} RETURNING jti`).map((r) => r.jti)
  }
}
