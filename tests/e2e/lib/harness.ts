/**
 * Shared pieces of the end-to-end tests: reading the test page's state (tests/e2e/pages/hotm-client.js),
 * waiting on it with bounded timeouts, and reading the server's event log to compare against.
 */
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { waitFor } from '../../helpers/wait.ts'

export const PAGES_DIR = join(import.meta.dir, '..', 'pages')

export interface QueueCounts {
  total_jobs: number
  running: number
  pending: number
}

/** One frame as the page received it. */
export interface PageFrame {
  transport: 'sse' | 'ws'
  /** The SSE `id:` line (null on synthetic frames and on the WebSocket). */
  id: string | null
  /** The SSE `event:` line. */
  event: string | null
  data: Record<string, unknown>
  at: number
}

/** An event as HotM's handlers see it (unwrapped, type mapped to the handler type). */
export interface HandledEvent extends Record<string, unknown> {
  type: string
  raw_type?: string
  transport: 'sse' | 'ws'
  event_id?: string
}

export interface PageState {
  mode: 'newest' | 'seed'
  phase: 'starting' | 'streaming' | 'incompatible' | 'failed'
  compatibility: Record<string, unknown> | null
  compatibilityProblems: string[]
  queueStatus: QueueCounts
  frames: PageFrame[]
  handled: HandledEvent[]
  dropped: { context: number; duplicate: number; coalesced: number; unparsable: number }
  sse: {
    status: string
    connected: boolean
    lastEventId: string | null
    connects: { at: number; lastEventId: string | null }[]
    failures: { at: number; reason: string }[]
  }
  ws: { url: string | null; opens: number; closes: { code: number; reason: string }[]; sent: string[] }
  pendingCoalesced: number
}

export function pageState(page: Page): Promise<PageState> {
  return page.evaluate(() => JSON.parse(JSON.stringify((globalThis as unknown as { __hotm: unknown }).__hotm)) as PageState)
}

/** Polls the page state until `check` passes (bounded); returns the state that passed. Fails at once when the page gave up. */
export async function waitForPage(page: Page, check: (s: PageState) => boolean, what: string, timeoutMs = 10_000): Promise<PageState> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const s = await pageState(page)
    if (check(s)) return s
    // The page stopped (compatibility refused, preflight failed): nothing more will arrive.
    const stopped = s.phase === 'incompatible' || s.phase === 'failed'
    if (stopped || Date.now() > deadline) {
      const summary = { phase: s.phase, problems: s.compatibilityProblems, sse: s.sse, ws: s.ws, queueStatus: s.queueStatus, frames: s.frames.length, handled: s.handled.length }
      throw new Error(`${stopped ? `the page stopped (${s.phase})` : `timed out after ${timeoutMs} ms`} waiting for ${what}\npage state: ${JSON.stringify(summary)}`)
    }
    await Bun.sleep(25)
  }
}

/**
 * Waits until the page has received, on `transport`, the newest event of the log (re-read on every poll, so
 * events the server adds while we wait — a trailing QueueStatus — are waited for too) and its coalescing
 * window has flushed. Returns the page state and the log read in the same poll, for exact comparison.
 */
export async function caughtUp(
  page: Page,
  readLog: () => LoggedEvent[],
  what: string,
  opts: { transport?: 'sse' | 'ws'; timeoutMs?: number } = {},
): Promise<{ state: PageState; logged: LoggedEvent[] }> {
  const transport = opts.transport ?? 'sse'
  let logged: LoggedEvent[] = []
  const state = await waitForPage(
    page,
    (p) => {
      logged = readLog()
      const last = logged[logged.length - 1]?.event_id
      const got = p.frames.filter((f) => f.transport === transport && f.data.event_id !== undefined && (transport === 'ws' || f.id !== null))
      return last !== undefined && got[got.length - 1]?.data.event_id === last && p.pendingCoalesced === 0
    },
    what,
    opts.timeoutMs ?? 15_000,
  )
  return { state, logged }
}

export interface LoggedEvent {
  seq: number
  event_id: string
  event_type: string
  /** JSON array of the note's tags at emission (null when the event concerns no note). */
  tags: string | null
  envelope: Record<string, unknown>
}

/**
 * The server's durable event log for a memory, in order (what SSE replays from). Read straight from
 * the SQLite file, independent of the transports under test.
 */
export function loggedEvents(db: Database, memory = 'default', afterSeq = 0): LoggedEvent[] {
  const rows = db
    .query('SELECT seq, event_id, event_type, tags, envelope FROM events WHERE memory = ? AND seq > ? ORDER BY seq')
    .all(memory, afterSeq) as { seq: number; event_id: string; event_type: string; tags: string | null; envelope: string }[]
  return rows.map((r) => ({ ...r, envelope: JSON.parse(r.envelope) as Record<string, unknown> }))
}

export function lastSeq(db: Database): number {
  return ((db.query('SELECT max(seq) AS seq FROM events').get() as { seq: number | null }).seq ?? 0)
}

/** Opens a server's SQLite file read-only (WAL: safe while the server writes). */
export function openLog(dataDir: string): Database {
  return new Database(join(dataDir, 'matric.db'), { readonly: true })
}

/** fetch JSON through nginx, with a bearer token when given. */
export async function api<T = unknown>(base: string, path: string, init: { method?: string; body?: unknown; token?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(base + path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  })
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON
  }
  return { status: res.status, body: body as T, headers: res.headers }
}

export interface JobStats extends QueueCounts {
  completed: number
  failed: number
}

/** Waits until no job of `memory` (default: the token's default) is pending or running (GET /api/v1/jobs/stats through `base`). */
export async function waitIdle(base: string, token?: string, opts: { memory?: string; timeoutMs?: number } = {}): Promise<JobStats> {
  return waitFor(
    async () => {
      const headers: Record<string, string> = opts.memory ? { 'X-Fortemi-Memory': opts.memory } : {}
      const { status, body } = await api<JobStats>(base, '/api/v1/jobs/stats', { token, headers })
      return status === 200 && body.pending + body.running === 0 ? body : null
    },
    `the job queue${opts.memory ? ` of ${opts.memory}` : ''} to become idle`,
    opts.timeoutMs ?? 15_000,
    25,
  )
}

/** The `type` and count of each handled event type. */
export function countTypes(events: readonly { type: string }[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const e of events) out[e.type] = (out[e.type] ?? 0) + 1
  return out
}

export function duplicates(ids: readonly (string | null | undefined)[]): string[] {
  const seen = new Set<string>()
  const dup: string[] = []
  for (const id of ids) {
    if (!id) continue
    if (seen.has(id)) dup.push(id)
    seen.add(id)
  }
  return dup
}
