import { systemClock, type Clock } from '../../util/poll-loop.ts'

/**
 * At most one `send(key)` per key per interval, and never a lost last one: the first touch sends at once, touches
 * within the interval after a send are folded into one send at the interval's end. (Resource-updated notifications
 * only say "read it again", so the trailing one is all a client needs.)
 */
export class Coalescer {
  private lastSent = new Map<string, number>()
  private pending = new Map<string, unknown>()
  private closed = false

  constructor(
    private readonly intervalMs: number,
    private readonly send: (key: string) => void,
    private readonly clock: Clock = systemClock,
  ) {}

  touch(key: string): void {
    if (this.closed || this.pending.has(key)) return
    const now = this.clock.now()
    const since = now - (this.lastSent.get(key) ?? -Infinity)
    if (since >= this.intervalMs) return this.fire(key, now)
    this.pending.set(
      key,
      this.clock.setTimeout(() => {
        this.pending.delete(key)
        this.fire(key, this.clock.now())
      }, this.intervalMs - since),
    )
  }

  private fire(key: string, now: number): void {
    if (this.closed) return
    this.lastSent.set(key, now)
    // Keys come and go (subscriptions): forget those quiet for longer than the interval.
    if (this.lastSent.size > 4096) for (const [k, t] of this.lastSent) if (now - t >= this.intervalMs) this.lastSent.delete(k)
    this.send(key)
  }

  close(): void {
    this.closed = true
    for (const t of this.pending.values()) this.clock.clearTimeout(t)
    this.pending.clear()
    this.lastSent.clear()
  }
}
