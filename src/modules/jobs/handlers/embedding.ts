import { embed } from './text.ts'
import type { JobHandler } from './types.ts'

/** Stores the note's feature-hashed term vector, then queues linking. */
export const embedding: JobHandler = async ({ note, notes, progress }) => {
  progress(10, 'tokenising')
  const vector = embed(`${note.title ?? ''}\n${note.content}`)
  progress(70, 'vector computed')
  await notes.setEmbedding(note.id, vector)
  progress(100, 'embedding stored')
  return { followUps: ['linking'] }
}
