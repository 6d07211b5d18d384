/** Sliding-window limiter (webhook creation per principal). In memory: limits reset on restart. */
export class SlidingWindowLimiter {
  private hits = new Map<string, number[]>()

  constructor(
    private limit: number,
    private windowMs: number,
    private now: () => number = Date.now,
  ) {}

  /** Records a hit for `key`; when over the limit, says how many seconds until one frees up. */
  take(key: string): { ok: true } | { ok: false; retryAfterS: number } {
    const now = this.now()
    const from = now - this.windowMs
    const list = (this.hits.get(key) ?? []).filter((t) => t > from)
    if (list.length >= this.limit) {
      this.hits.set(key, list)
      return { ok: false, retryAfterS: Math.max(1, Math.ceil((list[0]! + this.windowMs - now) / 1000)) }
    }
    list.push(now)
    this.hits.set(key, list)
    if (this.hits.size > 1000) this.sweep(from)
    return { ok: true }
  }

  private sweep(from: number): void {
    for (const [k, list] of this.hits) if (!list.some((t) => t > from)) this.hits.delete(k)
  }
}
