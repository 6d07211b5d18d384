export interface Migration {
  /** Unique, never renamed: recorded in schema_migrations once applied. */
  id: string
  sql: string
}

/**
 * Schema migrations, applied in array order, each once (tracked by id in schema_migrations).
 * Never edit a shipped migration: add a new one. Feature modules add their own tables here.
 */
export const MIGRATIONS: Migration[] = [
  {
    id: '001_core',
    sql: `
  CREATE TABLE notes (
    id TEXT PRIMARY KEY,
    memory TEXT NOT NULL,
    title TEXT,
    content TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    has_ai_content INTEGER NOT NULL DEFAULT 0,
    embedding BLOB,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX notes_memory_created ON notes(memory, created_at, id);

  CREATE TABLE note_links (
    note_id TEXT NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
    linked_note_id TEXT NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
    score REAL NOT NULL,
    PRIMARY KEY (note_id, linked_note_id)
  );
  CREATE INDEX note_links_linked ON note_links(linked_note_id);

  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    memory TEXT NOT NULL,
    note_id TEXT,
    job_type TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    progress_percent INTEGER NOT NULL DEFAULT 0,
    progress_message TEXT,
    retry_count INTEGER NOT NULL DEFAULT 0,
    max_retries INTEGER NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    completed_at TEXT,
    duration_ms INTEGER,
    run_after INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX jobs_claim ON jobs(status, priority DESC, created_at, id);
  CREATE INDEX jobs_memory_status ON jobs(memory, status);
  CREATE INDEX jobs_note ON jobs(note_id);

  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    memory TEXT NOT NULL,
    event_type TEXT NOT NULL,
    entity_id TEXT,
    tags TEXT,
    envelope TEXT NOT NULL,
    created_ms INTEGER NOT NULL
  );
  CREATE INDEX events_memory_seq ON events(memory, seq);
  CREATE INDEX events_created ON events(created_ms);

  CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
  );
  `,
  },
  {
    // Webhooks (docs/webhooks.md): subscriptions, the durable delivery outbox and its attempt log.
    id: '010_webhooks',
    sql: `
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    memory TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    description TEXT,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_expires_ms INTEGER,
    max_retries INTEGER NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX webhooks_memory ON webhooks(memory, created_at);

  CREATE TABLE webhook_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    memory TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    legacy_type TEXT NOT NULL,
    body TEXT NOT NULL,
    traceparent TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_status_code INTEGER,
    last_error TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    finished_ms INTEGER
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_ms);
  CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, seq);
  CREATE INDEX webhook_deliveries_finished ON webhook_deliveries(finished_ms) WHERE finished_ms IS NOT NULL;

  CREATE TABLE webhook_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    webhook_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms INTEGER NOT NULL,
    response_excerpt TEXT NOT NULL DEFAULT '',
    success INTEGER NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX webhook_attempts_webhook ON webhook_attempts(webhook_id, seq);
  CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id);
  `,
  },
  {
    // Stream tokens (README.md#authentication-and-tenancy): who minted each one and until when, so DELETE can authorise a revocation.
    // Rows outlive expiry while a stream opened with the token is still connected (streams are not cut
    // at expiry, but revocation still cuts them).
    id: '020_stream_tokens',
    sql: `
  CREATE TABLE stream_tokens (
    jti TEXT PRIMARY KEY,
    sub TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
  );
  CREATE INDEX stream_tokens_expires ON stream_tokens(expires_at);
  `,
  },
  {
    // Retention by age walks the log in seq order (creation order), so the created_ms index only cost
    // every append and every prune a b-tree update.
    id: '030_events_drop_created_index',
    sql: `DROP INDEX IF EXISTS events_created;`,
  },
  {
    // Job pause/resume: a row per paused scope ('*' = every memory, else a memory name). The worker claims
    // nothing from a paused scope; running jobs finish.
    id: '050_job_pauses',
    sql: `
  CREATE TABLE job_pauses (
    scope TEXT PRIMARY KEY,
    paused_at TEXT NOT NULL,
    paused_by TEXT NOT NULL
  );
  `,
  },
  {
    // Event tracing of a job's chain: the correlation id of the operation that queued it (its events carry it)
    // and the id of its JobQueued event (the cause of its JobStarted).
    id: '060_job_trace',
    sql: `
  ALTER TABLE jobs ADD COLUMN correlation_id TEXT;
  ALTER TABLE jobs ADD COLUMN queued_event_id TEXT;
  `,
  },
  {
    // The tag restriction of whoever queued a job (JSON array; NULL = unrestricted): the job reads and changes
    // only notes that principal may read (linking candidates), so a restricted writer cannot probe or alter hidden notes.
    id: '070_job_restriction',
    sql: `ALTER TABLE jobs ADD COLUMN restriction TEXT;`,
  },
  {
    // Retention is per memory: how far each memory's log was pruned (memory '*' = the age cut, which applies to
    // every memory), so a replay knows when events it had not reached are gone.
    id: '080_event_watermarks',
    sql: `
  CREATE TABLE event_watermarks (
    memory TEXT PRIMARY KEY,
    pruned_through INTEGER NOT NULL
  );
  `,
  },
  {
    // Fair webhook claims (webhooks/fairness.ts): which webhooks have due rows (an index-only scan of the
    // due range, webhook_id covered), then each one's oldest waiting rows (the partial index skips the
    // finished rows kept for 7 days).
    id: '090_webhook_fair_claim',
    sql: `
  DROP INDEX IF EXISTS webhook_deliveries_due;
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_ms, webhook_id);
  CREATE INDEX webhook_deliveries_waiting ON webhook_deliveries(webhook_id, seq) WHERE status IN ('pending', 'retrying');
  `,
  },
  {
    // GET /api/v1/jobs/stats counts the jobs that finished in the last hour: a range scan, not every finished job.
    id: '100_jobs_finished_index',
    sql: `CREATE INDEX jobs_memory_status_completed ON jobs(memory, status, completed_at);`,
  },
  {
    // The memories a stream token grants (JSON: "*" or an array), so only an admin of all of them may
    // revoke it. NULL on tokens minted before: then only their subject or an admin of every memory may.
    id: '500_stream_token_memories',
    sql: `ALTER TABLE stream_tokens ADD COLUMN memories TEXT;`,
  },
  {
    // One row the /health write probe upserts (a real, committed write; see modules/system).
    id: '510_health_probe',
    sql: `CREATE TABLE health_probe (id INTEGER PRIMARY KEY CHECK (id = 1), probed_at TEXT NOT NULL);`,
  },
  {
    // What the caller asked of an ai_revision ("make it shorter"), passed to the model with the note.
    id: '520_job_instructions',
    sql: `ALTER TABLE jobs ADD COLUMN instructions TEXT;`,
  },
  {
    // Leases (docs/architecture.md#leases): a running job and an in-flight delivery name their owner (an
    // instance) and until when it holds them; only an expired lease is taken over.
    id: '530_leases',
    sql: `ALTER TABLE jobs ADD COLUMN owner TEXT;
  ALTER TABLE jobs ADD COLUMN lease_until_ms INTEGER;
  ALTER TABLE webhook_deliveries ADD COLUMN owner TEXT;
  ALTER TABLE webhook_deliveries ADD COLUMN lease_until_ms INTEGER;
  CREATE INDEX deliveries_in_flight ON webhook_deliveries (webhook_id) WHERE status = 'in_flight';`,
  },
]
