import type { Database, Statement } from 'bun:sqlite'

export interface EventRow {
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

export interface Retention {
  count: number
  hours: number
}

/**
 * The durable, ordered event log: every emission is appended (it doubles as the audit trail), SSE replays
 * from it, and retention keeps it bounded (last N events and last H hours, whichever is smaller).
 */
export class EventLog {
  private insert: Statement
  private seqOfId: Statement
  private byMemoryAfter: Statement | undefined
  private lastSeqStmt: Statement | undefined
  private appendsSincePrune = 0
  private appendTx: (rows: readonly Omit<EventRow, 'seq'>[]) => number[]

  constructor(
    private db: Database,
    private retention: Retention,
  ) {
    this.insert = db.query(
      'INSERT INTO events (event_id, memory, event_type, entity_id, tags, envelope, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq',
    )
    this.seqOfId = db.query('SELECT seq, memory, tags FROM events WHERE event_id = ?')
    this.appendTx = db.transaction((rows: readonly Omit<EventRow, 'seq'>[]): number[] => {
      const seqs = rows.map((e) => (this.insert.get(e.event_id, e.memory, e.event_type, e.entity_id, e.tags, e.envelope, e.created_ms) as { seq: number }).seq)
      this.appendsSincePrune += rows.length
      if (this.appendsSincePrune >= 500) this.prune()
      return seqs
    })
  }

  /** Appends events in one transaction (with the periodic prune); returns their seqs in order. */
  appendBatch(rows: readonly Omit<EventRow, 'seq'>[]): number[] {
    return this.appendTx(rows)
  }

  /** One event in its own transaction (what a commit per event costs: bench/micro.ts). */
  append(e: Omit<EventRow, 'seq'>): number {
    return this.appendTx([e])[0]!
  }

  /** Where a logged event id is (its seq, memory and note tags), or null when unknown or pruned. */
  positionOf(eventId: string): { seq: number; memory: string; tags: string | null } | null {
    return this.seqOfId.get(eventId) as { seq: number; memory: string; tags: string | null } | null
  }

  /** seq of a logged event id, or null when unknown or pruned. */
  seqOf(eventId: string): number | null {
    return this.positionOf(eventId)?.seq ?? null
  }

  /** The newest seq in the log (0 when empty). */
  lastSeq(): number {
    this.lastSeqStmt ??= this.db.query('SELECT COALESCE(MAX(seq), 0) AS seq FROM events')
    return (this.lastSeqStmt.get() as { seq: number }).seq
  }


  /**
   * Events of one memory with seq greater than `afterSeq`, oldest first (SSE replay pages; uses the
   * (memory, seq) index). Prepared once, on first use.
   */
  afterInMemory(memory: string, afterSeq: number, limit = 500): EventRow[] {
    this.byMemoryAfter ??= this.db.query('SELECT * FROM events WHERE memory = ? AND seq > ? ORDER BY seq LIMIT ?')
    return this.byMemoryAfter.all(memory, afterSeq, limit) as EventRow[]
  }

  /** The oldest retained event (seq and creation time), or null when the log is empty. */
  oldest(): { seq: number; created_ms: number } | null {
    return this.db.query('SELECT seq, created_ms FROM events ORDER BY seq LIMIT 1').get() as { seq: number; created_ms: number } | null
  }


  prune(now = Date.now()): number {
    this.appendsSincePrune = 0
    const cutoff = now - this.retention.hours * 3600_000
    // seq order is creation order: the first row young enough bounds the old ones (no index on created_ms).
    const r1 = this.db
      .query(
        `DELETE FROM events WHERE seq < COALESCE((SELECT seq FROM events WHERE created_ms >= ? ORDER BY seq LIMIT 1),
                                                  (SELECT MAX(seq) + 1 FROM events))`,
      )
      .run(cutoff)
    const r2 = this.db
      .query('DELETE FROM events WHERE seq <= (SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?)')
      .run(this.retention.count)
    return r1.changes + r2.changes
  }
}
