/** WAL checkpoints run in a worker thread, not inside the event path's commits. */
import { expect, test } from 'bun:test'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { startServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'

test('the main connection never checkpoints; the thread copies the log into the database file', async () => {
  const s = await startServer()
  try {
    expect(s.db.query('PRAGMA wal_autocheckpoint').get()).toEqual({ wal_autocheckpoint: 0 })
    const dbFile = join(s.dataDir, 'matric.db')
    const before = statSync(dbFile).size
    const pad = 'x'.repeat(900)
    for (let i = 0; i < 2000; i++) s.ctx.bus.publish({ memory: 'ckpt', payload: { type: 'NoteDeleted', note_id: `n-${i}-${pad}`.slice(0, 128) } })
    s.ctx.bus.flush()
    // The rows are in the WAL; the database file grows only when a checkpoint copies them back.
    await waitFor(() => statSync(dbFile).size > before, 'a checkpoint by the thread', 10_000)
  } finally {
    await s.stop()
  }
})
