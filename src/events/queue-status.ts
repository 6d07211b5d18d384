import type { QueueStatus } from './catalog.ts'
import type { EventBus } from './bus.ts'

export interface QueueCounts {
  pending: number
  running: number
}

/** QueueStatus from counts: total_jobs = pending + running (what the HotM counters track). */
export function queueStatusOf(c: QueueCounts): QueueStatus {
  return { type: 'QueueStatus', total_jobs: c.pending + c.running, running: c.running, pending: c.pending }
}

/**
 * Sends QueueStatus corrections when counts change without a job event (retries, crash recovery,
 * cancellations): at most one per memory per interval, trailing so the last change is always reported.
 */
export class QueueStatusScheduler {
  private lastSent = new Map<string, number>()
  private timers = new Map<string, ReturnType<typeof setTimeout>>()
  private stopped = false

  constructor(
    private bus: EventBus,
    private counts: (memory: string) => QueueCounts,
    private intervalMs: number,
  ) {}

  markDirty(memory: string): void {
    if (this.stopped || this.timers.has(memory)) return
    const wait = Math.max(0, (this.lastSent.get(memory) ?? -Infinity) + this.intervalMs - performance.now())
    this.timers.set(
      memory,
      setTimeout(() => {
        this.timers.delete(memory)
        this.sendNow(memory)
      }, wait),
    )
  }

  /** Publishes the memory's counts now; returns the event id. */
  sendNow(memory: string): string {
    this.lastSent.set(memory, performance.now())
    return this.bus.publish({ memory, payload: queueStatusOf(this.counts(memory)), entityType: 'queue' }).envelope.event_id
  }

  stop(): void {
    this.stopped = true
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
  }
}
