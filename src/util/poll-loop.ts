/** Time, injectable: the worker and the outbox read and wait through it, so tests of time need no real waiting. */
export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
}

export interface PollLoopOptions {
  /** Starts what can be started now; must not throw (errors are its own to log). */
  pump: () => void
  /** When the next piece of work is due (ms epoch), or null when nothing waits. */
  nextDue: () => number | null
  /** The longest sleep: a safety net, since every enqueue and completion wakes the loop. */
  pollMs: number
  clock: Clock
  onError: (err: unknown) => void
}

/**
 * The wake/sleep loop the job worker and the webhook outbox share: `wake()` pumps (re-entrant calls are
 * ignored), then the loop sleeps until the next item becomes due or `pollMs`, whichever comes first. Enqueues
 * and completions call `wake()`.
 */
export class PollLoop {
  private timer: unknown
  private stopped = true
  private pumping = false

  constructor(private o: PollLoopOptions) {}

  get running(): boolean {
    return !this.stopped
  }

  start(): void {
    this.stopped = false
    this.wake()
  }

  stop(): void {
    this.stopped = true
    this.o.clock.clearTimeout(this.timer)
  }

  /** Pumps now (synchronously) and re-arms the sleep. */
  wake = (): void => {
    if (this.stopped || this.pumping) return
    this.pumping = true
    try {
      this.o.pump()
    } catch (err) {
      this.o.onError(err)
    } finally {
      this.pumping = false
    }
    this.sleep()
  }

  private sleep(): void {
    if (this.stopped) return
    this.o.clock.clearTimeout(this.timer)
    let wait = this.o.pollMs
    try {
      const next = this.o.nextDue()
      const now = this.o.clock.now()
      // Work already due but not started is waiting for a free slot: a completion wakes the loop, so sleeping
      // 0 ms here would only spin.
      if (next !== null && next > now) wait = Math.min(this.o.pollMs, next - now)
    } catch (err) {
      this.o.onError(err)
    }
    this.timer = this.o.clock.setTimeout(this.wake, wait)
  }
}
