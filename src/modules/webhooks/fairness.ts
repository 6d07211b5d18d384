/**
 * Which due deliveries start now (docs/webhooks.md#fairness-between-memories-and-endpoints). Pure: the
 * outbox passes the due rows and what is in flight, and starts what this returns, in order.
 *
 * - Caps: at most `global` attempts in flight, `memory` per memory, `endpoint` per webhook — and 1 for a
 *   webhook marked slow (its last attempt timed out), so receivers that hang cannot hold every slot and
 *   a memory always leaves slots to the others.
 * - Order: each slot goes to the memory with the fewest attempts in flight, within it to the webhook with
 *   the fewest, then to the one served least recently, then to the oldest row. So a backlog of old rows
 *   on a busy webhook never keeps a freed slot from a webhook that waits with nothing in flight.
 * - A webhook's own rows always start oldest first (emission order per webhook).
 */

export interface Candidate {
  webhook_id: string
  memory: string
  seq: number
}

export interface SlotState {
  /** Attempts in flight in total. */
  total: number
  perWebhook: ReadonlyMap<string, number>
  perMemory: ReadonlyMap<string, number>
  /** Webhooks whose last attempt timed out: one attempt at a time until one gets an answer. */
  slow: ReadonlySet<string>
  /** Webhook → a counter value of its latest start (higher = more recent; absent = never). */
  lastServed: ReadonlyMap<string, number>
  /** The counter value the next start gets (greater than every value in `lastServed`). */
  clock: number
}

export interface SlotLimits {
  global: number
  endpoint: number
  memory: number
}

/** The per-webhook cap: 1 for a slow (timing-out) endpoint. */
export function endpointCap(webhookId: string, slow: ReadonlySet<string>, endpoint: number): number {
  return slow.has(webhookId) ? 1 : endpoint
}

/** The due rows to start now, in start order. `candidates` may come in any order. */
export function planLaunches<T extends Candidate>(candidates: readonly T[], s: SlotState, l: SlotLimits): T[] {
  // Each webhook's rows, oldest first.
  const queues = new Map<string, T[]>()
  for (const c of candidates) {
    const q = queues.get(c.webhook_id)
    if (q) q.push(c)
    else queues.set(c.webhook_id, [c])
  }
  for (const q of queues.values()) q.sort((a, b) => a.seq - b.seq)
  const perWebhook = new Map(s.perWebhook)
  const perMemory = new Map(s.perMemory)
  const lastServed = new Map(s.lastServed)
  let total = s.total
  let served = s.clock
  const out: T[] = []
  while (total < l.global) {
    let best: T | undefined
    let bestKey: [number, number, number, number] | undefined
    for (const [id, q] of queues) {
      const head = q[0]
      if (!head) continue
      const w = perWebhook.get(id) ?? 0
      const m = perMemory.get(head.memory) ?? 0
      if (w >= endpointCap(id, s.slow, l.endpoint) || m >= l.memory) continue
      const key: [number, number, number, number] = [m, w, lastServed.get(id) ?? -1, head.seq]
      if (!bestKey || less(key, bestKey)) {
        best = head
        bestKey = key
      }
    }
    if (!best) break
    queues.get(best.webhook_id)!.shift()
    out.push(best)
    total++
    perWebhook.set(best.webhook_id, (perWebhook.get(best.webhook_id) ?? 0) + 1)
    perMemory.set(best.memory, (perMemory.get(best.memory) ?? 0) + 1)
    lastServed.set(best.webhook_id, served++)
  }
  return out
}

function less(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!
  return false
}
