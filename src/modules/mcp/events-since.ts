import { canSeeTags } from '../../auth/principal.ts'
import type { EventStore } from '../../events/store.ts'
import { badRequest } from '../../http/errors.ts'
import type { Caller } from '../notes/service.ts'
import type { CursorCodec } from '../realtime/cursor.ts'
import { matches, parseRowTags, parseTypes, rowFacts, type StreamFilter } from '../realtime/sse-filter.ts'

/** Log rows read per page, and pages scanned per call at most (bounded work when the filter matches little). */
const PAGE = 500
const MAX_PAGES = 20

export interface EventsPage {
  events: unknown[]
  /** Pass back as `cursor`: the position after the last row scanned (matching or not). */
  next_cursor: string
  /** More rows after next_cursor right now (call again at once). */
  has_more: boolean
  /** Retention removed events after the cursor given: some were missed. */
  gap: boolean
}

/**
 * events_since: the durable event log, read with the SSE stream's filter (memory, types, the caller's tag
 * restriction — the same `matches`/`rowFacts`), paged by opaque cursors of the same kind as the SSE opening
 * frame's `event_id` (a log position bound to the memory), so no event is skipped or repeated between pages.
 */
export class EventsSince {
  constructor(
    private log: EventStore,
    private cursors: CursorCodec,
  ) {}

  async page(c: Caller, q: { cursor?: string; from?: 'oldest' | 'now'; types?: readonly string[]; limit: number }): Promise<EventsPage> {
    const filter: StreamFilter = { memory: c.memory, types: q.types ? parseTypes(q.types.join(',')) : null, entityId: null, tags: c.restriction }
    // Without a cursor: from the oldest retained event, or from now (only what happens next).
    let pos = q.from === 'now' ? await this.log.lastSeq() : 0
    let gap = false
    if (q.cursor !== undefined) {
      const at = await this.position(c, q.cursor)
      if (at === null) throw badRequest('unknown cursor: pass next_cursor from a previous events_since call of this memory (or an event id you were sent), or omit it to start at the oldest retained event')
      pos = at
      const pruned = await this.log.prunedThrough(c.memory)
      if (pruned > pos) {
        gap = true
        pos = pruned
      }
    }
    const events: unknown[] = []
    const needTags = filter.tags !== null
    let hasMore = true
    scan: for (let page = 0; page < MAX_PAGES; page++) {
      const rows = await this.log.afterInMemory(c.memory, pos, PAGE)
      for (const row of rows) {
        pos = row.seq
        if (!matches(filter, rowFacts(row, needTags))) continue
        events.push(JSON.parse(row.envelope))
        if (events.length >= q.limit) {
          hasMore = (await this.log.afterInMemory(c.memory, pos, 1)).length > 0
          break scan
        }
      }
      if (rows.length < PAGE) {
        hasMore = false
        break
      }
    }
    return { events, next_cursor: this.cursors.encode(c.memory, pos), has_more: hasMore, gap }
  }

  /** A cursor of this memory, or an event id of this memory the caller may see (like SSE's Last-Event-ID). */
  private async position(c: Caller, cursor: string): Promise<number | null> {
    const at = await this.log.positionOf(cursor)
    if (at) return at.memory === c.memory && canSeeTags(c.restriction, parseRowTags(at.tags)) ? at.seq : null
    return this.cursors.decode(c.memory, cursor)
  }
}
