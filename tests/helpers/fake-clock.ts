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
    for (let due = this.takeDue(end); due; due = this.takeDue(end)) due()
    this.t = end
  }

  /**
   * Advances time like `advance`, but lets the work each timer starts finish first (its store calls resolve on
   * later turns), at that timer's time — so what it schedules next (a poll loop re-arming its sleep) comes due
   * within the same advance, as it would in real time.
   */
  async run(ms: number, settle: () => Promise<void>): Promise<void> {
    const end = this.t + ms
    for (;;) {
      await settle()
      const due = this.takeDue(end)
      if (!due) break
      due()
    }
    this.t = end
  }

  /** The earliest timer due by `end`, removed, with the clock moved to its time; undefined when none is. */
  private takeDue(end: number): (() => void) | undefined {
    this.timers.sort((a, b) => a.at - b.at)
    const next = this.timers[0]
    if (!next || next.at > end) return undefined
    this.timers.shift()
    this.t = next.at
    return next.fn
  }
}
