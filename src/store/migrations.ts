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
]
