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
  /** Starts what can be started now; errors go to `onError`. */
  pump: () => void | Promise<void>
  /** When the next piece of work is due (ms epoch), or null when nothing waits. */
  nextDue: () => Promise<number | null>
  /** The longest sleep: a safety net, since every enqueue and completion wakes the loop. */
  pollMs: number
  clock: Clock
  onError: (err: unknown) => void
}

/**
 * The wake/sleep loop the job worker and the webhook outbox share: `wake()` pumps, then the loop sleeps until
 * the next item becomes due or `pollMs`, whichever comes first. Enqueues and completions call `wake()`; a wake
 * while a pump runs makes one more pump follow it (the running one may have looked before the new work existed).
 */
export class PollLoop {
  private timer: unknown
  private stopped = true
  private pumping: Promise<void> | undefined
  private again = false

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

  /** Resolves when the pump running now (if any) and the one it may have queued are done. */
  async idle(): Promise<void> {
    while (this.pumping) await this.pumping
  }

  /** Pumps now and re-arms the sleep. */
  wake = (): void => {
    if (this.stopped) return
    if (this.pumping) {
      this.again = true
      return
    }
    this.pumping = this.run().finally(() => (this.pumping = undefined))
  }

  private async run(): Promise<void> {
    do {
      this.again = false
      try {
        await this.o.pump()
      } catch (err) {
        this.o.onError(err)
      }
    } while (this.again && !this.stopped)
    await this.sleep()
  }

  private async sleep(): Promise<void> {
    if (this.stopped) return
    let wait = this.o.pollMs
    try {
      const next = await this.o.nextDue()
      const now = this.o.clock.now()
      // Work already due but not started is waiting for a free slot: a completion wakes the loop, so sleeping
      // 0 ms here would only spin.
      if (next !== null && next > now) wait = Math.min(this.o.pollMs, next - now)
    } catch (err) {
      this.o.onError(err)
    }
    if (this.stopped) return
    this.o.clock.clearTimeout(this.timer)
    this.timer = this.o.clock.setTimeout(this.wake, wait)
  }
}
