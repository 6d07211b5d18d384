import { canSeeTags } from '../../auth/principal.ts'
import { EVENT_TYPES, expandEventName, type EventType } from '../../events/catalog.ts'
import { isFortemiEventName } from '../../events/fortemi-catalog.ts'
import type { EventRow } from '../../events/store.ts'
import { badRequest } from '../../http/errors.ts'
import type { ResyncReason } from './sse-frames.ts'

/** What one SSE stream receives (docs/sse.md): its memory, optionally some types and one entity, within its tags. */
export interface StreamFilter {
  memory: string
  /** null = every type. */
  types: ReadonlySet<EventType> | null
  /** Envelope `entity_id` to match exactly; null = any. */
  entityId: string | null
  /** The principal's tag restriction (null = unrestricted). */
  tags: readonly string[] | null
}

/** The fields of an event the filter looks at, from a live event or a logged row. */
export interface EventFacts {
  memory: string
  eventType: string
  entityId: string | null | undefined
  tags: readonly string[] | null
}

const MAX_TYPE_NAMES = 50
const MAX_ID_LENGTH = 128
const KNOWN_NAMES = [...Object.values(EVENT_TYPES), ...Object.keys(EVENT_TYPES)]

/**
 * `?types=` → the set of dotted types, or null when the parameter is absent (everything).
 * Each comma-separated name may be dotted (`job.completed`), a prefix (`job` = `job.*`) or legacy
 * (`JobCompleted`); blanks around commas are ignored. Names of the upstream Fortemi catalog that this server
 * never emits (`collection`, `tag.renamed`, `events.lagged`, …) are accepted and match nothing, so a client
 * written for Fortemi subscribes unchanged. Throws 400 when the list is empty or a name is outside both catalogs.
 */
export function parseTypes(raw: string | null | undefined): ReadonlySet<EventType> | null {
  if (raw === null || raw === undefined) return null
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (!names.length) throw badRequest('types must name at least one event type (omit the parameter to receive every event)')
  if (names.length > MAX_TYPE_NAMES) throw badRequest(`types lists ${names.length} names; at most ${MAX_TYPE_NAMES} are allowed`)
  const out = new Set<EventType>()
  const unknown: string[] = []
  for (const n of names) {
    const types = expandEventName(n)
    if (!types.length && !isFortemiEventName(n)) unknown.push(n)
    for (const t of types) out.add(t)
  }
  if (unknown.length)
    throw badRequest(
      `unknown event type${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => JSON.stringify(u.slice(0, 80))).join(', ')} in types; ` +
        `use dotted names, a prefix (job, jobs, note, queue) or legacy names of the event catalog`,
      { known: KNOWN_NAMES },
    )
  return out
}

/** `?entity_id=` → the id, or null when absent. Throws 400 when empty or too long. */
export function parseEntityId(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null
  const id = raw.trim()
  if (!id || id.length > MAX_ID_LENGTH) throw badRequest(`entity_id must be 1 to ${MAX_ID_LENGTH} characters`)
  return id
}

/**
 * The resume point: the `Last-Event-ID` header (what EventSource sends on reconnect) wins over
 * `?last_event_id=` (typically baked into the first URL). Blank = none; over-long ids are refused.
 */
export function parseLastEventId(header: string | null | undefined, query: string | null | undefined): string | null {
  for (const v of [header, query]) {
    const id = v?.trim()
    if (!id) continue
    if (id.length > MAX_ID_LENGTH) throw badRequest(`last event id must be at most ${MAX_ID_LENGTH} characters`)
    return id
  }
  return null
}

/** Whether a stream with this filter receives the event. */
export function matches(f: StreamFilter, e: EventFacts): boolean {
  if (e.memory !== f.memory) return false
  if (f.types && !f.types.has(e.eventType as EventType)) return false
  if (f.entityId !== null && e.entityId !== f.entityId) return false
  return canSeeTags(f.tags, e.tags)
}

/** The filter facts of a logged event. The row's tags are only parsed when a tag restriction needs them. */
export function rowFacts(row: EventRow, needTags: boolean): EventFacts {
  return { memory: row.memory, eventType: row.event_type, entityId: row.entity_id, tags: needTags ? parseRowTags(row.tags) : null }
}

/** The `tags` column: a JSON array of strings, or null for events that are not note-scoped. */
export function parseRowTags(json: string | null): string[] | null {
  if (json === null) return null
  try {
    const v: unknown = JSON.parse(json)
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null
  } catch {
    // An unreadable row is treated as not note-scoped: invisible to tag-restricted streams (fail closed).
    return null
  }
}


/**
 * Why an id that is not in the log cannot be resumed from: event ids are UUIDv7, so an id whose
 * timestamp predates the oldest retained event was pruned by retention; anything else is unknown here.
 */
export function resyncReason(lastEventId: string, oldestRetainedMs: number | null): ResyncReason {
  const ts = uuidV7Millis(lastEventId)
  return ts !== null && oldestRetainedMs !== null && ts < oldestRetainedMs ? 'expired_event_id' : 'unknown_event_id'
}

const UUID_V7 = /^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i

/** The millisecond timestamp of a UUIDv7, or null for anything else. */
export function uuidV7Millis(id: string): number | null {
  const m = UUID_V7.exec(id)
  return m ? parseInt(m[1]! + m[2]!, 16) : null
}

/** Whether a stream receives queue counts: it follows the whole memory (no entity) and did not filter them out. */
export function wantsCounts(f: StreamFilter): boolean {
  return f.entityId === null && (!f.types || f.types.has('queue.status'))
}
