import type { SQL } from 'bun'

export interface Migration {
  /** Unique, never renamed: recorded in schema_migrations once applied. */
  id: string
  sql: string
}

/**
 * PostgreSQL schema migrations, applied in array order, each once (tracked by id in schema_migrations). Never
 * edit a shipped migration: add a new one.
 *
 * `001_schema` is the SQLite schema as of its migration 530_leases (src/store/sqlite/migrations.ts), in
 * PostgreSQL types:
 * - ms epochs and positions are BIGINT (the store turns them back into numbers);
 * - ISO timestamps stay TEXT, as in SQLite, so the strings the API returns are the ones stored;
 * - every TEXT column that is sorted or compared by range is `COLLATE "C"`: SQLite compares bytes, and the
 *   database's default collation (en_US and the like) would order ids, memories and cursors differently;
 * - note tags are JSONB (the tag filters use `?|`, with a GIN index); the other JSON columns (events.tags,
 *   webhooks.events, jobs.restriction, stream_tokens.memories) are passed through as text and stay TEXT, so the
 *   rows come out byte for byte as written;
 * - events.seq is not a sequence: positions come from the single event_positions row (see events.ts).
 */
export const MIGRATIONS: Migration[] = [
  {
    id: '001_schema',
    sql: `
  CREATE TABLE notes (
    id TEXT COLLATE "C" PRIMARY KEY,
    memory TEXT COLLATE "C" NOT NULL,
    title TEXT,
    content TEXT NOT NULL,
    tags JSONB NOT NULL DEFAULT '[]',
    has_ai_content BOOLEAN NOT NULL DEFAULT false,
    embedding BYTEA,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL
  );
  CREATE INDEX notes_memory_created ON notes (memory, created_at, id);
  CREATE INDEX notes_tags ON notes USING GIN (tags);

  CREATE TABLE note_links (
    note_id TEXT COLLATE "C" NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
    linked_note_id TEXT COLLATE "C" NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
    score DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (note_id, linked_note_id)
  );
  CREATE INDEX note_links_linked ON note_links (linked_note_id);

  CREATE TABLE jobs (
    id TEXT COLLATE "C" PRIMARY KEY,
    memory TEXT COLLATE "C" NOT NULL,
    note_id TEXT COLLATE "C",
    job_type TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    progress_percent INTEGER NOT NULL DEFAULT 0,
    progress_message TEXT,
    retry_count INTEGER NOT NULL DEFAULT 0,
    max_retries INTEGER NOT NULL,
    error TEXT,
    created_at TEXT COLLATE "C" NOT NULL,
    started_at TEXT,
    completed_at TEXT COLLATE "C",
    duration_ms BIGINT,
    run_after BIGINT NOT NULL DEFAULT 0,
    correlation_id TEXT,
    queued_event_id TEXT,
    restriction TEXT,
    instructions TEXT,
    owner TEXT,
    lease_until_ms BIGINT
  );
  CREATE INDEX jobs_claim ON jobs (priority DESC, created_at, id) WHERE status = 'pending';
  CREATE INDEX jobs_memory_status ON jobs (memory, status, completed_at);
  CREATE INDEX jobs_note ON jobs (note_id);
  CREATE INDEX jobs_running ON jobs (lease_until_ms) WHERE status = 'running';

  CREATE TABLE job_pauses (
    scope TEXT COLLATE "C" PRIMARY KEY,
    paused_at TEXT NOT NULL,
    paused_by TEXT NOT NULL
  );

  -- The one counter every append takes its positions from (see events.ts): its row lock orders the appenders.
  CREATE TABLE event_positions (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq BIGINT NOT NULL
  );
  INSERT INTO event_positions (id, last_seq) VALUES (1, 0);

  CREATE TABLE events (
    seq BIGINT PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    memory TEXT COLLATE "C" NOT NULL,
    event_type TEXT NOT NULL,
    entity_id TEXT,
    tags TEXT,
    envelope TEXT NOT NULL,
    created_ms BIGINT NOT NULL
  );
  CREATE INDEX events_memory_seq ON events (memory, seq);

  CREATE TABLE event_watermarks (
    memory TEXT COLLATE "C" PRIMARY KEY,
    pruned_through BIGINT NOT NULL
  );

  CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
  );

  CREATE TABLE stream_tokens (
    jti TEXT PRIMARY KEY,
    sub TEXT NOT NULL,
    memories TEXT,
    expires_at BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
  );
  CREATE INDEX stream_tokens_expires ON stream_tokens (expires_at);

  CREATE TABLE webhooks (
    id TEXT COLLATE "C" PRIMARY KEY,
    memory TEXT COLLATE "C" NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    description TEXT,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_expires_ms BIGINT,
    max_retries INTEGER NOT NULL,
    -- 0/1 as in SQLite: WebhookRow.is_active is a number.
    is_active INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX webhooks_memory ON webhooks (memory, created_at);

  -- seq only orders rows (oldest first, attempt log newest first); nobody reads "after a position" here, so a
  -- sequence (gaps, commit order ≠ seq order) is fine.
  CREATE TABLE webhook_deliveries (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    webhook_id TEXT COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    memory TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    legacy_type TEXT NOT NULL,
    body TEXT NOT NULL,
    traceparent TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    last_status_code INTEGER,
    last_error TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    finished_ms BIGINT,
    owner TEXT,
    lease_until_ms BIGINT
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_ms, webhook_id);
  CREATE INDEX webhook_deliveries_waiting ON webhook_deliveries (webhook_id, seq) WHERE status IN ('pending', 'retrying');
  CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, seq);
  CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_ms) WHERE finished_ms IS NOT NULL;
  CREATE INDEX webhook_deliveries_in_flight ON webhook_deliveries (webhook_id) WHERE status = 'in_flight';

  CREATE TABLE webhook_attempts (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    webhook_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    response_excerpt TEXT NOT NULL DEFAULT '',
    success INTEGER NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
  );
  CREATE INDEX webhook_attempts_webhook ON webhook_attempts (webhook_id, seq);
  CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);

  CREATE TABLE health_probe (id INTEGER PRIMARY KEY CHECK (id = 1), probed_at TEXT NOT NULL);
  `,
  },
]

/** Arbitrary, fixed: the advisory lock key every instance takes while it migrates. */
const MIGRATION_LOCK = 0x6d617472 // "matr"

/**
 * Brings the schema up to date. Several instances may start at once: each holds a session advisory lock while it
 * reads schema_migrations and applies what is missing, so the second one waits and then finds nothing to do.
 * Each migration and its schema_migrations row commit together (PostgreSQL DDL is transactional).
 */
export async function migrate(sql: SQL, migrations: readonly Migration[] = MIGRATIONS): Promise<string[]> {
  const conn = await sql.reserve()
  const applied: string[] = []
  try {
    await conn`SELECT pg_advisory_lock(${MIGRATION_LOCK})`
    try {
      await conn`CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`
      const done = new Set((await conn<{ id: string }[]>`SELECT id FROM schema_migrations`).map((r) => r.id))
      for (const m of migrations) {
        if (done.has(m.id)) continue
        await conn.begin(async (tx) => {
          await tx.unsafe(m.sql).simple()
          await tx`INSERT INTO schema_migrations (id, applied_at) VALUES (${m.id}, ${new Date().toISOString()})`
        })
        applied.push(m.id)
      }
    } finally {
      await conn`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`
    }
  } finally {
    await conn.release()
  }
  return applied
}
