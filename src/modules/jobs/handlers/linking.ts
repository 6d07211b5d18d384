import { bestMatches } from './text.ts'
import type { JobHandler } from './types.ts'
import { TransientError } from './types.ts'

/** Links the note to its most similar notes in the memory (cosine similarity above a threshold), both ways. */
export const linking: JobHandler = async ({ note, notes, config, progress }) => {
  const vector = notes.getEmbedding(note.id)
  // The embedding job is queued ahead of linking; if it has not landed yet, try again shortly.
  if (!vector) throw new TransientError('note has no embedding yet')
  progress(20, 'comparing with other notes')
  const candidates = notes.embeddingsOf(note.memory, note.id)
  const matches = bestMatches(vector, candidates, config.linkThreshold, config.maxLinks)
  progress(80, `${matches.length} similar note(s) found`)
  const changed = notes.replaceLinks(note.id, matches)
  progress(100, 'links stored')
  return { otherNotesChanged: changed }
}
