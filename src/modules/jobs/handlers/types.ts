import type { Config } from '../../../config.ts'
import type { JobTypeName } from '../../../events/catalog.ts'
import type { NoteState, NoteStore } from '../../notes/store.ts'
import type { Job } from '../model.ts'

export interface HandlerContext {
  job: Job
  note: NoteState
  notes: NoteStore
  /** Tag restriction of whoever caused the job (null = unrestricted): the job reads and changes only notes visible under it. */
  restriction: readonly string[] | null
  /** ai_revision: what the caller asked for, if anything. */
  instructions?: string
  config: Config
  /** Records progress (0–100) and emits JobProgress. */
  progress(percent: number, message?: string): void
  signal: AbortSignal
}

export interface HandlerResult {
  /** Other notes whose state changed (linking partners). */
  otherNotesChanged?: string[]
  /** Jobs to queue for the same note after this one completes. */
  followUps?: JobTypeName[]
}

export type JobHandler = (ctx: HandlerContext) => Promise<HandlerResult>

/** A failure worth retrying (network, timeout, 5xx, 429). Anything else fails the job for good. */
export class TransientError extends Error {
  override name = 'TransientError'
}

/** The job's note disappeared while it ran: the job is cancelled, not failed. */
export class NoteGoneError extends Error {
  override name = 'NoteGoneError'
}
