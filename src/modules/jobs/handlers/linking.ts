import { canSeeTags } from '../../../auth/principal.ts'
import { bestMatches } from './text.ts'
import type { JobHandler } from './types.ts'
import { TransientError } from './types.ts'

/** Whether every tag of `a` is in `b`: then every principal who may read a note tagged `a` may read one tagged `b`. */
export function tagsWithin(a: readonly string[], b: readonly string[]): boolean {
  return a.every((t) => b.includes(t))
}

/**
 * Links the note to its most similar notes in the memory (cosine similarity above a threshold).
 *
 * Links never cross visibility (docs/decisions.md, "Links and tag restrictions"):
 * - the candidates are only the notes visible to whoever caused the job (its restriction), so a tag-restricted
 *   writer can neither learn from scores against notes it cannot read nor change their links;
 * - a link A → B is stored only when every principal who may read A may read B (A's tags ⊆ B's tags; an
 *   untagged note is visible to unrestricted principals only). So a note's links, scores, `has_links` and this
 *   job's messages are the same for every reader and name only notes that reader may read.
 */
export const linking: JobHandler = async ({ note, notes, config, progress, restriction }) => {
  const vector = await notes.getEmbedding(note.id)
  // The embedding job is queued ahead of linking; if it has not landed yet, try again shortly.
  if (!vector) throw new TransientError('note has no embedding yet')
  progress(20, 'comparing with other notes')
  const candidates = (await notes.embeddingsOf(note.memory, note.id)).filter((c) => canSeeTags(restriction, c.tags))
  const forward = bestMatches(vector, candidates.filter((c) => tagsWithin(note.tags, c.tags)), config.linkThreshold, config.maxLinks)
  const reverse = bestMatches(vector, candidates.filter((c) => tagsWithin(c.tags, note.tags)), config.linkThreshold, config.maxLinks)
  progress(80, `${forward.length} similar note(s) found`)
  const changed = await notes.replaceLinks(note.id, forward, reverse, candidates.map((c) => c.id))
  progress(100, 'links stored')
  return { otherNotesChanged: changed }
}
