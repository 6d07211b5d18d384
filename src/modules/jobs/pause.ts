import type { Actor } from '../../events/catalog.ts'
import type { EventBus } from '../../events/bus.ts'
import type { PauseStore } from './store.ts'

/** The scope of a pause: every memory, or one. */
export type PauseScope = { kind: 'global' } | { kind: 'memory'; memory: string }

const GLOBAL = '*'
const keyOf = (s: PauseScope) => (s.kind === 'global' ? GLOBAL : s.memory)

/**
 * Job processing pause/resume (the Fortemi `/api/v1/jobs/pause|resume` routes). A paused scope is a row of the
 * pause store (`job_pauses`); the job store's claim skips its pending jobs, so pausing stops new work at once while running
 * jobs finish, and it survives restarts. Each change of state emits `jobs.paused` / `jobs.resumed`
 * (`{scope: "global" | "archive"}`, Fortemi's names) into the memories concerned — for a global change, every
 * memory this server knows of — on SSE and webhooks (the WebSocket carries only the HotM types).
 */
export class JobPauses {
  constructor(
    private store: PauseStore,
    private bus: EventBus,
    /** Wakes the worker after a resume. */
    private wake: () => void,
    /** Memories with clients connected right now (they hear of a global change even before they hold data). */
    private openMemories: () => Iterable<string> = () => [],
  ) {}

  /** Pauses a scope; false when it already was (no event then). */
  async pause(scope: PauseScope, actor: Actor): Promise<boolean> {
    const changed = await this.store.add(keyOf(scope), new Date().toISOString(), actor.id ?? actor.kind)
    if (changed) await this.announce('JobsPaused', scope, actor)
    return changed
  }

  /** Resumes a scope; false when it was not paused. Resuming one memory does not lift a global pause. */
  async resume(scope: PauseScope, actor: Actor): Promise<boolean> {
    const changed = await this.store.remove(keyOf(scope))
    if (changed) {
      await this.announce('JobsResumed', scope, actor)
      this.wake()
    }
    return changed
  }

  /** Paused scopes: whether everything is, and which memories are. */
  async state(): Promise<{ global: boolean; memories: string[] }> {
    const scopes = await this.store.scopes()
    return { global: scopes.includes(GLOBAL), memories: scopes.filter((s) => s !== GLOBAL) }
  }

  /** Whether jobs of `memory` are held (by a global or a memory pause). */
  async isPaused(memory: string): Promise<boolean> {
    const s = await this.state()
    return s.global || s.memories.includes(memory)
  }

  private async announce(type: 'JobsPaused' | 'JobsResumed', scope: PauseScope, actor: Actor): Promise<void> {
    const memories = scope.kind === 'memory' ? [scope.memory] : await this.knownMemories()
    for (const memory of memories)
      this.bus.publish({ memory, payload: { type, scope: scope.kind === 'global' ? 'global' : 'archive' }, entityType: 'job', actor })
  }

  /** Every memory with notes, jobs, webhooks or connected clients, and `default`: where a global change is announced. */
  private async knownMemories(): Promise<string[]> {
    return [...new Set(['default', ...(await this.store.memoriesWithData()), ...this.openMemories()])].sort()
  }
}
