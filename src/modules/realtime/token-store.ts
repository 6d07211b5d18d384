import type { Principal } from '../../auth/principal.ts'

export interface StreamTokenRow {
  jti: string
  sub: string
  /** JSON: `"*"` or an array of memory names; null for tokens minted before this was kept. */
  memories: string | null
  /** Unix seconds. */
  expires_at: number
  created_at: string
  revoked_at: string | null
}

/** Port: minted stream tokens: their subject (who may revoke) and expiry (how long a revocation must be kept). */
export interface StreamTokenStore {
  insert(jti: string, sub: string, memories: Principal['memories'], expiresAtS: number): Promise<void>
  get(jti: string): Promise<StreamTokenRow | null>
  markRevoked(jti: string): Promise<void>
  /** Forgets tokens expired before `nowS`, except those an open stream still uses (a revocation must still reach it). */
  prune(nowS: number, keep: readonly string[]): Promise<number>
}
