/** Port: revoked token ids (stream tokens), persisted so revocation survives restarts. */
export interface RevocationStore {
  /** Records a revocation (idempotent). */
  add(jti: string, expiresAtS: number): Promise<void>
  /** Every revoked id still kept. */
  all(): Promise<string[]>
  /** Forgets revocations of tokens that expired before `beforeS`; returns the ids forgotten. */
  prune(beforeS: number): Promise<string[]>
}

/**
 * Revoked token ids, answered from memory (the verifier asks on every request and stream check), written through
 * to the store. Expired rows are pruned.
 */
export class Revocations {
  private cache = new Set<string>()
  private listeners = new Set<(jti: string) => void>()
  /** Tells the other instances of a cluster (set by the composition root; nothing in one process). */
  private announce: (jti: string) => void = () => {}

  private constructor(private store: RevocationStore) {}

  /** Loads the kept revocations (after pruning the expired ones). */
  static async load(store: RevocationStore): Promise<Revocations> {
    const r = new Revocations(store)
    await r.prune()
    for (const jti of await store.all()) r.cache.add(jti)
    return r
  }

  has(jti: string): boolean {
    return this.cache.has(jti)
  }

  /** Revokes a token: refused, and its open streams cut, at once; persisted before this resolves. */
  async revoke(jti: string, expiresAtS: number): Promise<void> {
    this.heard(jti)
    await this.store.add(jti, expiresAtS)
    // After the write: an instance that missed the signal finds the row when it reloads.
    this.announce(jti)
  }

  /** How a revocation made here reaches the other instances (the broker's signal). */
  announceWith(fn: (jti: string) => void): void {
    this.announce = fn
  }

  /** Reads every kept revocation again (signals may have been missed); the new ones close their streams. */
  async reload(): Promise<void> {
    for (const jti of await this.store.all()) if (!this.cache.has(jti)) this.heard(jti)
  }

  /** A revocation made elsewhere (another instance) or here: remembered, and open streams told. */
  heard(jti: string): void {
    this.cache.add(jti)
    for (const l of this.listeners) l(jti)
  }

  /** Called on every revocation (open streams close themselves). Returns an unsubscribe function. */
  onRevoke(listener: (jti: string) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Forgets revocations of tokens expired for over a minute (beyond the verifier's clock tolerance). */
  async prune(nowS = Math.floor(Date.now() / 1000)): Promise<void> {
    for (const jti of await this.store.prune(nowS - 60)) this.cache.delete(jti)
  }
}
