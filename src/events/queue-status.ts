import type { QueueStatus } from './catalog.ts'
import { tagSetKey } from '../auth/principal.ts'
import type { EventBus } from './bus.ts'
import type { QueueCounts } from './published.ts'

export type { QueueCounts }

/** QueueStatus from counts: total_jobs = pending + running (what the HotM counters track). */
export function queueStatusOf(c: QueueCounts): QueueStatus {
  return { type: 'QueueStatus', total_jobs: c.pending + c.running, running: c.running, pending: c.pending }
}

/** Counts of a memory as one restriction (null = none) sees them. */
export type CountsOf = (memory: string, restriction: readonly string[] | null) => Promise<QueueCounts>

/**
 * Sends QueueStatus corrections when counts change without a job event (retries, crash recovery,
 * cancellations): at most one per memory per interval, trailing so the last change is always reported.
 * It counts for the memory and, in the same moment, for every tag restriction that has listeners on this node
 * (`restrictionsOf`), so tag-restricted clients get counts of the same instant (carried on the event, not logged).
 */
export class QueueStatusScheduler {
  private lastSent = new Map<string, number>()
  private timers = new Map<string, ReturnType<typeof setTimeout>>()
  private stopped = false

  constructor(
    private bus: EventBus,
    private counts: CountsOf,
    private intervalMs: number,
    private restrictionsOf: (memory: string) => Iterable<readonly string[]> = () => [],
    private onError: (err: unknown) => void = () => {},
  ) {}

  markDirty(memory: string): void {
    if (this.stopped || this.timers.has(memory)) return
    const wait = Math.max(0, (this.lastSent.get(memory) ?? -Infinity) + this.intervalMs - performance.now())
    this.timers.set(
      memory,
      setTimeout(() => {
        this.timers.delete(memory)
        this.sendNow(memory).catch(this.onError)
      }, wait),
    )
  }

  /** Publishes the memory's counts now; resolves to the event id. */
  async sendNow(memory: string): Promise<string> {
    this.lastSent.set(memory, performance.now())
    const restrictions = [...new Map([...this.restrictionsOf(memory)].map((r) => [tagSetKey(r), r])).entries()]
    const [all, ...groups] = await Promise.all([this.counts(memory, null), ...restrictions.map(([, r]) => this.counts(memory, r))])
    const groupCounts = new Map(restrictions.map(([key], i) => [key, groups[i]!]))
    return this.bus.publish({ memory, payload: queueStatusOf(all!), entityType: 'queue' }, { groupCounts }).envelope.event_id
  }

  stop(): void {
    this.stopped = true
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
  }
}
