import type { Database, Statement } from 'bun:sqlite'
import type { Actor } from '../../events/catalog.ts'
import type { EventBus } from '../../events/bus.ts'

/** The scope of a pause: every memory, or one. */
export type PauseScope = { kind: 'global' } | { kind: 'memory'; memory: string }

const GLOBAL = '*'
const keyOf = (s: PauseScope) => (s.kind === 'global' ? GLOBAL : s.memory)

/**
 * Job processing pause/resume (the Fortemi `/api/v1/jobs/pause|resume` routes). A paused scope is a row in
 * `job_pauses`; the job store's claim skips its pending jobs, so pausing stops new work at once while running
 * jobs finish, and it survives restarts. Each change of state emits `jobs.paused` / `jobs.resumed`
 * (`{scope: "global" | "archive"}`, Fortemi's names) into the memories concerned — for a global change, every
 * memory this server knows of — on SSE and webhooks (the WebSocket carries only the HotM types).
 */
export class JobPauses {
  private insert: Statement
  private remove: Statement
  private all: Statement

  constructor(
    private db: Database,
    private bus: EventBus,
    /** Wakes the worker after a resume. */
    private wake: () => void,
    /** Memories with clients connected right now (they hear of a global change even before they hold data). */
    private openMemories: () => Iterable<string> = () => [],
  ) {
    this.insert = db.query('INSERT OR IGNORE INTO job_pauses (scope, paused_at, paused_by) VALUES (?, ?, ?)')
    this.remove = db.query('DELETE FROM job_pauses WHERE scope = ?')
    this.all = db.query('SELECT scope FROM job_pauses ORDER BY scope')
  }

  /** Pauses a scope; false when it already was (no event then). */
  pause(scope: PauseScope, actor: Actor): boolean {
    const changed = this.insert.run(keyOf(scope), new Date().toISOString(), actor.id ?? actor.kind).changes > 0
    if (changed) this.announce('JobsPaused', scope, actor)
    return changed
  }

  /** Resumes a scope; false when it was not paused. Resuming one memory does not lift a global pause. */
  resume(scope: PauseScope, actor: Actor): boolean {
    const changed = this.remove.run(keyOf(scope)).changes > 0
    if (changed) {
      this.announce('JobsResumed', scope, actor)
      this.wake()
    }
    return changed
  }

  /** Paused scopes: whether everything is, and which memories are. */
  state(): { global: boolean; memories: string[] } {
    const scopes = (this.all.all() as { scope: string }[]).map((r) => r.scope)
    return { global: scopes.includes(GLOBAL), memories: scopes.filter((s) => s !== GLOBAL) }
  }

  /** Whether jobs of `memory` are held (by a global or a memory pause). */
  isPaused(memory: string): boolean {
    const s = this.state()
    return s.global || s.memories.includes(memory)
  }

  private announce(type: 'JobsPaused' | 'JobsResumed', scope: PauseScope, actor: Actor): void {
    const memories = scope.kind === 'memory' ? [scope.memory] : this.knownMemories()
    for (const memory of memories)
      this.bus.publish({ memory, payload: { type, scope: scope.kind === 'global' ? 'global' : 'archive' }, entityType: 'job', actor })
  }

  /** Every memory with notes, jobs, webhooks or connected clients, and `default`: where a global change is announced. */
  private knownMemories(): string[] {
    const rows = this.db.query('SELECT memory FROM notes UNION SELECT memory FROM jobs UNION SELECT memory FROM webhooks').all() as { memory: string }[]
    return [...new Set(['default', ...rows.map((r) => r.memory), ...this.openMemories()])].sort()
  }
}
