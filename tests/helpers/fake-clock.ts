import type { Clock } from '../../src/util/poll-loop.ts'

/** A clock the test moves by hand. */
export class FakeClock implements Clock {
  t = 1_000_000
  timers: { at: number; fn: () => void; id: number }[] = []
  private ids = 0
  now = () => this.t
  setTimeout = (fn: () => void, ms: number) => {
    const id = ++this.ids
    this.timers.push({ at: this.t + ms, fn, id })
    return id
  }
  clearTimeout = (id: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== id)
  }
  /** Advances time, firing what comes due in order. */
  advance(ms: number): void {
    const end = this.t + ms
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at)
      const next = this.timers[0]
      if (!next || next.at > end) break
      this.timers.shift()
      this.t = next.at
      next.fn()
    }
    this.t = end
  }
}

