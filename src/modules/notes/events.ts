import type { Actor, NoteCreated, NoteUpdated } from '../../events/catalog.ts'
import type { EventBus, Trace } from '../../events/bus.ts'
import type { NoteState, NoteStore } from './store.ts'

export function noteUpdatedPayload(n: NoteState): NoteUpdated {
  return {
    type: 'NoteUpdated',
    note_id: n.id,
    ...(n.title ? { title: n.title } : {}),
    tags: n.tags,
    has_ai_content: n.has_ai_content,
    has_links: n.has_links,
  }
}

export function noteCreatedPayload(n: NoteState): NoteCreated {
  return { type: 'NoteCreated', note_id: n.id, ...(n.title ? { title: n.title } : {}), tags: n.tags }
}

/** Note lifecycle events, built from the note's current state. */
export class NoteEvents {
  constructor(
    private bus: EventBus,
    private notes: NoteStore,
  ) {}

  /** Emits NoteCreated; returns its event id. */
  created(n: NoteState, actor?: Actor, trace?: Trace): string {
    return this.bus.publish({ memory: n.memory, payload: noteCreatedPayload(n), entityType: 'note', entityId: n.id, tags: n.tags, actor, ...trace }).envelope.event_id
  }

  /** Emits NoteUpdated with the note's state now (returns its event id); a note deleted meanwhile emits nothing. */
  async updated(noteId: string, actor?: Actor, trace?: Trace): Promise<string | undefined> {
    const n = await this.notes.get(noteId)
    return n ? this.updatedFrom(n, actor, trace) : undefined
  }

  /** Emits NoteUpdated with a state already read (in this turn: nothing the caller publishes next can come between). */
  updatedFrom(n: NoteState, actor?: Actor, trace?: Trace): string {
    return this.bus.publish({ memory: n.memory, payload: noteUpdatedPayload(n), entityType: 'note', entityId: n.id, tags: n.tags, actor, ...trace }).envelope.event_id
  }

  /** Emits NoteDeleted; returns its event id. */
  deleted(n: NoteState, actor?: Actor, trace?: Trace): string {
    return this.bus.publish({ memory: n.memory, payload: { type: 'NoteDeleted', note_id: n.id }, entityType: 'note', entityId: n.id, tags: n.tags, actor, ...trace }).envelope.event_id
  }
}
