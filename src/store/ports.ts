import type { RevocationStore } from '../auth/revocations.ts'
import type { EventStore } from '../events/store.ts'
import type { JobStore, PauseStore } from '../modules/jobs/store.ts'
import type { NoteStore } from '../modules/notes/store.ts'
import type { StreamTokenStore } from '../modules/realtime/token-store.ts'
import type { WebhookStore } from '../modules/webhooks/store.ts'

export type { RevocationStore, EventStore, JobStore, PauseStore, NoteStore, StreamTokenStore, WebhookStore }

/** The store's own health: whether it answers reads, and whether it accepts writes. */
export interface StoreProbe {
  /** One cheap read (and, where the backend allows it, taking the write lock without writing). */
  read(): Promise<void>
  /** One real write (a single row kept up to date), so a full disk or a read-only store shows. */
  write(nowIso: string): Promise<void>
  /** The last storage failure any statement met recently (disk full, I/O error, read-only), if the backend tracks it. */
  recentFailure?(): { code: string; message: string; atMs: number } | undefined
}

/**
 * Every port of one backend, opened and migrated (docs/architecture.md). The composition root (src/context.ts)
 * picks the backend; nothing else knows which one it is.
 */
export interface Stores {
  /** `sqlite` (the embedded default) or `postgres`. */
  readonly kind: 'sqlite' | 'postgres'
  events: EventStore
  notes: NoteStore
  jobs: JobStore
  pauses: PauseStore
  webhooks: WebhookStore
  streamTokens: StreamTokenStore
  revocations: RevocationStore
  probe: StoreProbe
  /** Closes the store (after every writer has stopped). */
  close(): Promise<void>
}
