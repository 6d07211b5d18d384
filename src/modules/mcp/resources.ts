import { McpError } from '@modelcontextprotocol/sdk/types.js'
import type { McpDeps } from './deps.ts'
import { ApiError } from '../../http/errors.ts'
import type { Caller } from '../notes/service.ts'

export type ResourceRef = { kind: 'note'; id: string; uri: string } | { kind: 'job'; id: string; uri: string } | { kind: 'queue'; uri: string }

export const QUEUE_URI = 'matric://queue/status'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** MCP's error code for an unknown resource. */
export const RESOURCE_NOT_FOUND = -32002

export const noteUri = (id: string) => `matric://notes/${id}`
export const jobUri = (id: string) => `matric://jobs/${id}`

/** `matric://notes/{id}`, `matric://jobs/{id}`, `matric://queue/status` → what it names; anything else → null. */
export function parseResourceUri(uri: string): ResourceRef | null {
  if (uri.length > 200) return null
  if (uri === QUEUE_URI) return { kind: 'queue', uri }
  const m = /^matric:\/\/(notes|jobs)\/([^/?#]+)$/.exec(uri)
  if (!m || !UUID.test(m[2]!)) return null
  const id = m[2]!.toLowerCase()
  return m[1] === 'notes' ? { kind: 'note', id, uri: noteUri(id) } : { kind: 'job', id, uri: jobUri(id) }
}

export const RESOURCE_TEMPLATES = [
  { uriTemplate: 'matric://notes/{id}', name: 'note', title: 'Note', description: 'A note as JSON (same shape as get_note); subscribe to hear of every change.', mimeType: 'application/json' },
  { uriTemplate: 'matric://jobs/{id}', name: 'job', title: 'Job', description: 'A background job as JSON (status, progress); subscribe to follow it.', mimeType: 'application/json' },
]

/** The resource as JSON, if the caller may read it; an MCP "resource not found" error otherwise (no existence leak). */
export async function readResource(ctx: McpDeps, c: Caller, uri: string): Promise<{ uri: string; mimeType: string; text: string }> {
  const ref = parseResourceUri(uri)
  if (!ref) throw new McpError(RESOURCE_NOT_FOUND, `unknown resource ${JSON.stringify(uri.slice(0, 200))}: expected matric://notes/{id}, matric://jobs/{id} or ${QUEUE_URI}`)
  try {
    const value = await (ref.kind === 'note'
      ? ctx.noteService.get(c, ref.id)
      : ref.kind === 'job'
        ? ctx.jobService.get(c.memory, c.restriction, ref.id)
        : ctx.jobService.stats(c.memory, c.restriction))
    return { uri: ref.uri, mimeType: 'application/json', text: JSON.stringify(value) }
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) throw new McpError(RESOURCE_NOT_FOUND, `resource ${ref.uri} not found`)
    throw e
  }
}

/** resources/list: the queue status, then the caller's notes newest first (50 per page, MCP cursor = notes cursor). */
export async function listResources(ctx: McpDeps, c: Caller, cursor: string | undefined) {
  let page
  try {
    page = await ctx.noteService.list(c, { limit: 50, cursor })
  } catch (e) {
    if (e instanceof ApiError && e.status === 400) throw new McpError(-32602, 'invalid cursor')
    throw e
  }
  const notes = page.notes.map((n) => ({ uri: noteUri(n.id), name: n.title ?? `note ${n.id}`, mimeType: 'application/json', description: n.tags.length ? `tags: ${n.tags.join(', ')}` : undefined }))
  const first = cursor === undefined ? [{ uri: QUEUE_URI, name: 'queue status', title: 'Job queue counts', mimeType: 'application/json', description: 'pending, running and recent counts you may see' }] : []
  return { resources: [...first, ...notes], ...(page.next_cursor ? { nextCursor: page.next_cursor } : {}) }
}
