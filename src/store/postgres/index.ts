import { SQL } from 'bun'
import type { Retention } from '../../events/store.ts'
import type { SecretBox } from '../../modules/webhooks/secret-box.ts'
import type { Logger } from '../../telemetry/log.ts'
import type { StoreProbe, Stores } from '../ports.ts'
import { PgEventStore } from './events.ts'
import { PgJobStore, PgPauseStore } from './jobs.ts'
import { migrate } from './migrations.ts'
import { PgNoteStore } from './notes.ts'
import { PgRevocationStore, PgStreamTokenStore } from './tokens.ts'
import { PgWebhookStore } from './webhooks.ts'

export interface PostgresOptions {
  retention: Retention
  box: SecretBox
  logger?: Logger
  /** Connections in this instance's pool (Bun's default: 10). */
  maxConnections?: number
}

/**
 * The PostgreSQL backend: every port over one connection pool (Bun's built-in client), the schema migrated first
 * (safe when several instances start at once, see migrations.ts). Several instances may share the database: the
 * job and delivery claims, leases and event positions are coordinated by the database, not by the process.
 */
export async function openPostgresStores(url: string, opts: PostgresOptions): Promise<Stores> {
  const sql = new SQL(url, { max: opts.maxConnections ?? 10 })
  try {
    await migrate(sql)
  } catch (err) {
    await sql.close({ timeout: 0 })
    throw err
  }
  const probe: StoreProbe = {
    async read() {
      // A read-write transaction fails on a standby or a read-only database, which a bare SELECT would not show.
      await sql.begin('read write', async (tx) => {
        await tx`SELECT last_seq FROM event_positions WHERE id = 1`
      })
    },
    async write(nowIso: string) {
      await sql`INSERT INTO health_probe (id, probed_at) VALUES (1, ${nowIso}) ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at`
    },
  }
  return {
    kind: 'postgres',
    events: new PgEventStore(sql, opts.retention, opts.logger),
    notes: new PgNoteStore(sql),
    jobs: new PgJobStore(sql),
    pauses: new PgPauseStore(sql),
    webhooks: new PgWebhookStore(sql, opts.box, opts.logger),
    streamTokens: new PgStreamTokenStore(sql),
    revocations: new PgRevocationStore(sql),
    probe,
    close: () => sql.close({ timeout: 5 }),
  }
}
