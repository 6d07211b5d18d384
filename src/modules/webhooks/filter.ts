import { EVENT_TYPES, expandEventName, type EventType } from '../../events/catalog.ts'

/** High-volume types that `*` leaves out: a webhook gets them only when a name or prefix selects them. */
export const WILDCARD_EXCLUDED: ReadonlySet<EventType> = new Set<EventType>(['queue.status', 'job.progress'])

const ALL_TYPES = Object.values(EVENT_TYPES) as EventType[]

export interface CompiledFilter {
  /** The event types the names select. */
  types: ReadonlySet<EventType>
  /** Names that select nothing (→ 422). */
  unknown: string[]
}

/**
 * Compiles a webhook's `events` list. A name is `*` (every type except queue.status and job.progress),
 * a dotted type (`job.completed`), a legacy type (`JobCompleted`) or a dotted prefix (`job` = every
 * `job.*`, including job.progress: the same meaning as SSE `types`).
 */
export function compileEventFilter(names: readonly string[]): CompiledFilter {
  const types = new Set<EventType>()
  const unknown: string[] = []
  for (const raw of names) {
    const name = raw.trim()
    if (name === '*') {
      for (const t of ALL_TYPES) if (!WILDCARD_EXCLUDED.has(t)) types.add(t)
      continue
    }
    const expanded = name ? expandEventName(name) : []
    if (!expanded.length) unknown.push(raw)
    for (const t of expanded) types.add(t)
  }
  return { types, unknown }
}

/** The stored form of an events list: trimmed, duplicates removed, order kept. */
export function normaliseEventNames(names: readonly string[]): string[] {
  return [...new Set(names.map((n) => n.trim()))]
}

