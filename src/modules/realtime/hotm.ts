import { HOTM_TYPES, type NoteUpdated, type Payload } from '../../events/catalog.ts'

/**
 * The HotM wire frame for a payload (docs/websocket.md): the bare payload object with `type` first, only for the
 * seven HotM types, plus the envelope's `event_id` last (when given) so a client that also reads SSE can
 * de-duplicate. `NoteCreated` goes out as `NoteUpdated` (a new note has no AI content and no links yet);
 * `NoteDeleted` and any other type are not sent (null).
 */
export function hotmFrame(p: Payload, eventId?: string): string | null {
  const json = hotmPayloadJson(p)
  return json === null || eventId === undefined ? json : withEventId(json, eventId)
}

/** Appends `"event_id":…` to a frame's JSON object (the frame is built once per event, so no re-parse). */
export function withEventId(frameJson: string, eventId: string): string {
  return `${frameJson.slice(0, -1)},"event_id":${JSON.stringify(eventId)}}`
}

function hotmPayloadJson(p: Payload): string | null {
  if (p.type === 'NoteCreated') {
    const upd: NoteUpdated = {
      type: 'NoteUpdated',
      note_id: p.note_id,
      ...(p.title !== undefined ? { title: p.title } : {}),
      tags: p.tags,
      has_ai_content: false,
      has_links: false,
    }
    return JSON.stringify(upd)
  }
  if (!HOTM_TYPES.has(p.type)) return null
  // Payloads are built with `type` first; the spread keeps it first for payloads from external publishers too.
  const { type, ...fields } = p
  return JSON.stringify({ type, ...fields })
}

/** The only client command: the text `refresh` (surrounding whitespace tolerated, case-sensitive like HotM sends it). */
export function isRefreshCommand(message: unknown): boolean {
  return typeof message === 'string' && message.trim() === 'refresh'
}

/** Topic of the unrestricted subscribers of a memory. */
export const memoryTopic = (memory: string) => `m:${memory}`
