/** One logged event: its position in the log, what it is, and its envelope as sent. */
export interface EventRow {
  /** Log position: dense, increasing in commit order across the whole log (all memories). */
  seq: number
  event_id: string
  memory: string
  event_type: string
  entity_id: string | null
  /** JSON array of the note's tags at emission; null when the event is not note-scoped. */
  tags: string | null
  envelope: string
  created_ms: number
}

export type NewEventRow = Omit<EventRow, 'seq'>

export interface Retention {
  /** Events kept per memory. */
  count: number
  hours: number
  /** Events kept in all (a backstop: memories are created by writing to them). Default: unbounded. */
  maxTotal?: number
}

/** Where a logged event is: its position, memory and note tags. */
export interface EventPosition {
  seq: number
  memory: string
  tags: string | null
}

/**
 * Port: the durable, ordered event log (docs/architecture.md). Every emission is appended (it doubles as the
 * audit trail), SSE and MCP replay from it, and retention keeps it bounded (per memory: its last N events, and
 * nothing older than H hours; optionally a total cap).
 *
 * Contract (tests/contract/event-store.ts, which every implementation passes):
 * - `appendBatch` is atomic: all rows get positions or none do; positions are returned in row order, are
 *   greater than every position committed before, and no reader ever sees position n+1 before n (a reader that
 *   has read through n never misses a later commit). Positions are never reused.
 * - Reads are per memory and in position order; `prunedThrough` only grows.
 * - Retention runs inside `appendBatch` from time to time (bounded work per call) and on `prune`.
 */
export interface EventStore {
  /** Appends events in one transaction; returns their positions in order. */
  appendBatch(rows: readonly NewEventRow[]): Promise<number[]>
  /** Where a logged event id is, or null when unknown or pruned. */
  positionOf(eventId: string): Promise<EventPosition | null>
  /** The newest position in the log (0 when empty). */
  lastSeq(): Promise<number>
  /**
   * Events of every memory after `afterSeq`, oldest first, at most `limit`: how a node of a cluster catches up on
   * what other instances committed (src/store/postgres/broker.ts). Positions are dense, so a page that starts
   * anywhere but `afterSeq + 1` means retention removed the positions in between.
   */
  readAfter(afterSeq: number, limit: number): Promise<EventRow[]>
  /** Events of one memory after `afterSeq`, oldest first, at most `limit` (replay pages). */
  afterInMemory(memory: string, afterSeq: number, limit?: number): Promise<EventRow[]>
  /** The oldest retained event of a memory (position and creation time), or null when it has none. */
  oldestInMemory(memory: string): Promise<{ seq: number; created_ms: number } | null>
  /** The highest position retention removed from a memory's log (by its count limit or the age cut); 0 = none. */
  prunedThrough(memory: string): Promise<number>
  /** Events of one memory per second (unix seconds) created at or after `fromMs` (the console's chart). */
  perSecond(memory: string, fromMs: number): Promise<{ s: number; n: number }[]>
  /** Applies retention now; returns how many events it removed. */
  prune(nowMs?: number): Promise<number>
}
