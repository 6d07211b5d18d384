import type { Database } from 'bun:sqlite'
import type { Retention } from '../../events/store.ts'
import type { SecretBox } from '../../modules/webhooks/secret-box.ts'
import { createLogger, type Logger } from '../../telemetry/log.ts'
import type { Stores } from '../ports.ts'
import { Checkpointer } from './checkpointer.ts'
import { openDatabase } from './db.ts'
import { SqliteEventStore } from './events.ts'
import { SqliteJobStore } from './jobs.ts'
import { SqliteNoteStore } from './notes.ts'
import { SqlitePauseStore, SqliteProbe, SqliteRevocationStore, SqliteStreamTokenStore } from './small.ts'
import { SqliteWebhookStore } from './webhooks.ts'

export interface SqliteStoreOptions {
  retention: Retention
  box: SecretBox
  /** Default: errors only, to stderr. */
  logger?: Logger
  /**
   * This process is the file's only user (the service): leases a previous process held are void, so its running
   * jobs and in-flight deliveries are claimable at once. Off for tools and tests that open one file twice.
   */
  exclusive?: boolean
}

/** The embedded backend's stores, plus its connection (for the few SQLite-only tools: key rotation, benches). */
export interface SqliteStores extends Stores {
  readonly kind: 'sqlite'
  readonly db: Database
}

/**
 * Opens (creating and migrating) the embedded SQLite store at `path` (`:memory:` for a throwaway one), with WAL
 * checkpoints on a worker thread. The service opens it `exclusive`: the file belongs to that one process, so leases a
 * previous process held are void and its running jobs and in-flight deliveries become claimable at once
 * (docs/architecture.md#leases).
 */
export async function openSqliteStores(path: string, opts: SqliteStoreOptions): Promise<SqliteStores> {
  const db = openDatabase(path)
  const checkpointer = Checkpointer.start(db, path, opts.logger ?? createLogger('error'))
  if (opts.exclusive) {
    db.exec(`UPDATE jobs SET lease_until_ms = 0 WHERE status = 'running'`)
    db.exec(`UPDATE webhook_deliveries SET lease_until_ms = 0 WHERE status = 'in_flight'`)
  }
  return {
    kind: 'sqlite',
    db,
    events: new SqliteEventStore(db, opts.retention),
    notes: new SqliteNoteStore(db),
    jobs: new SqliteJobStore(db),
    pauses: new SqlitePauseStore(db),
    webhooks: new SqliteWebhookStore(db, opts.box),
    streamTokens: new SqliteStreamTokenStore(db),
    revocations: new SqliteRevocationStore(db),
    probe: new SqliteProbe(db),
    close: async () => {
      await checkpointer.stop()
      db.close()
    },
  }
}
