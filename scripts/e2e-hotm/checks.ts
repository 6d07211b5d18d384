/**
 * Pure checks of the HotM end-to-end run (scripts/e2e-hotm.ts): what HotM's event bus requires of an event,
 * restated independently so a rejected event ('Unknown' on the bus) comes with the reason; gap and
 * duplicate detection between the server's log and what the page received; counter comparison.
 */

/** The event types this server emits to SSE, and the RealtimeEventType HotM's bus maps each to. */
export const EMITTED: Readonly<Record<string, string>> = {
  'queue.status': 'QueueStatus',
  'job.queued': 'JobQueued',
  'job.started': 'JobStarted',
  'job.progress': 'JobProgress',
  'job.completed': 'JobCompleted',
  'job.failed': 'JobFailed',
  'note.created': 'NoteCreated',
  'note.updated': 'NoteUpdated',
  'note.deleted': 'NoteDeleted',
  'jobs.paused': 'JobsPaused',
  'jobs.resumed': 'JobsResumed',
}

/** Bus event types HotM coalesces (the last within 50 ms per job/note wins), so not every one reaches the UI. */
export const COALESCED = new Set(['QueueStatus', 'JobProgress'])

/** A field rule of HotM's ui/src/api/contracts/fortemi-asyncapi-event-validation-rules.json. */
export interface FieldRule {
  types: string[]
  nullable: boolean
  enum?: string[]
  format?: string
  items?: FieldRule
}

export interface EventRule {
  eventType: string
  legacyType: string
  required: string[]
  fields: Record<string, FieldRule>
}

export interface RulesDocument {
  rules: EventRule[]
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value === 'number' && !Number.isInteger(value) ? 'non-integer number' : typeof value
}

/** Why `value` does not satisfy `rule` (undefined = it does). */
export function fieldViolation(value: unknown, rule: FieldRule): string | undefined {
  if (value === null) return rule.nullable ? undefined : 'is null'
  if (rule.enum && !rule.enum.includes(value as string)) return `is ${JSON.stringify(value)}, expected one of ${rule.enum.join('|')}`
  const ok = rule.types
    .filter((t) => t !== 'null')
    .some((t) => {
      if (t === 'array') return Array.isArray(value)
      if (t === 'integer') return Number.isInteger(value)
      if (t === 'object') return typeof value === 'object' && !Array.isArray(value)
      return typeof value === t
    })
  if (!ok) return `is ${describe(value)}, expected ${rule.types.join('|')}`
  if (rule.format === 'uuid' && typeof value === 'string' && !UUID.test(value)) return `is ${JSON.stringify(value)}, not a UUID`
  if (rule.items && Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = fieldViolation(value[i], rule.items)
      if (v) return `[${i}] ${v}`
    }
  }
  return undefined
}

/**
 * Every reason HotM's bus would classify `input` (an unwrapped event: payload fields plus envelope metadata,
 * as `unwrapServerEventEnvelope` returns it) as 'Unknown' under `rule`. `asEnvelope` = it arrived under its
 * dotted name (SSE), which adds the envelope id checks.
 */
export function ruleViolations(input: Record<string, unknown>, rule: EventRule, asEnvelope: boolean): string[] {
  const out: string[] = []
  if (asEnvelope) {
    const id = input.event_id
    if (typeof id !== 'string' || !UUID.test(id)) out.push(`event_id ${JSON.stringify(id)} is not a UUID`)
    for (const k of ['correlation_id', 'causation_id']) {
      const v = input[k]
      if (typeof v === 'string' && !UUID.test(v)) out.push(`${k} ${JSON.stringify(v)} is not a UUID`)
    }
    if (input.payload_type !== rule.legacyType) out.push(`payload.type is ${JSON.stringify(input.payload_type)}, expected ${rule.legacyType}`)
  } else if (input.type !== rule.legacyType) {
    out.push(`type is ${JSON.stringify(input.type)}, expected ${rule.legacyType}`)
  }
  for (const k of rule.required) if (k !== 'type' && !(k in input)) out.push(`required field ${k} is missing`)
  for (const [k, fr] of Object.entries(rule.fields)) {
    if (k === 'type' || !(k in input)) continue
    const v = fieldViolation(input[k], fr)
    if (v) out.push(`${k} ${v}`)
  }
  return out
}

/** The rule for a dotted or legacy name. */
export function ruleFor(doc: RulesDocument, name: string): EventRule | undefined {
  return doc.rules.find((r) => r.eventType === name || r.legacyType === name)
}

export interface SequenceDiff {
  /** In the truth, never seen. */
  missing: string[]
  /** Seen more than once. */
  duplicates: string[]
  /** Seen, not in the truth. */
  unexpected: string[]
  /** The ids both have are not in the same order. */
  reordered: boolean
}

/** Compares the ids a client saw with the server's sequence. */
export function diffSequence(truth: readonly string[], seen: readonly string[]): SequenceDiff {
  const truthSet = new Set(truth)
  const counts = new Map<string, number>()
  for (const id of seen) counts.set(id, (counts.get(id) ?? 0) + 1)
  const duplicates = [...counts].filter(([, n]) => n > 1).map(([id]) => id)
  const seenSet = new Set(seen)
  const missing = truth.filter((id) => !seenSet.has(id))
  const unexpected = [...seenSet].filter((id) => !truthSet.has(id))
  const common = [...new Set(seen.filter((id) => truthSet.has(id)))]
  const truthOrder = truth.filter((id) => seenSet.has(id))
  const reordered = common.length !== truthOrder.length || common.some((id, i) => id !== truthOrder[i])
  return { missing, duplicates, unexpected, reordered }
}

export function isCleanDiff(d: SequenceDiff): boolean {
  return !d.missing.length && !d.duplicates.length && !d.unexpected.length && !d.reordered
}

export interface Counts {
  total_jobs: number
  running: number
  pending: number
}

export function sameCounts(a: Counts | undefined | null, b: Counts | undefined | null): boolean {
  return !!a && !!b && a.total_jobs === b.total_jobs && a.running === b.running && a.pending === b.pending
}

export function fmtCounts(c: Counts | undefined | null): string {
  return c ? `{total_jobs: ${c.total_jobs}, running: ${c.running}, pending: ${c.pending}}` : 'none'
}
