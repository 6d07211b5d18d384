import { extractTitle } from './text.ts'
import type { JobHandler } from './types.ts'

/** Sets a title from the first heading or sentence, unless someone set one meanwhile. */
export const titleGeneration: JobHandler = async ({ note, notes, progress }) => {
  if (note.title) {
    progress(100, 'note already has a title')
    return {}
  }
  progress(30, 'reading content')
  const title = extractTitle(note.content)
  if (!title) {
    progress(100, 'no title could be derived')
    return {}
  }
  await notes.update(note.id, { title }, new Date().toISOString())
  progress(100, 'title set')
  return {}
}
