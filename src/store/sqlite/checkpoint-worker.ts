/**
 * Runs in a worker thread: checkpoints the SQLite write-ahead log on its own connection, so the copy back into
 * the database file and its fsync never run on the event loop (see checkpointer.ts). PASSIVE checkpoints never
 * block the writer or readers; whatever they cannot copy yet is copied next time.
 */
import { Database } from 'bun:sqlite'

declare const self: Worker

let db: Database | undefined
let timer: ReturnType<typeof setInterval> | undefined

self.onmessage = (e: MessageEvent<{ start?: { path: string; intervalMs: number }; stop?: true }>) => {
  if (e.data.start) {
    db = new Database(e.data.start.path)
    db.exec('PRAGMA busy_timeout = 1000')
    timer = setInterval(() => {
      try {
        db?.exec('PRAGMA wal_checkpoint(PASSIVE)')
      } catch (err) {
        self.postMessage({ error: err instanceof Error ? err.message : String(err) })
      }
    }, e.data.start.intervalMs)
    self.postMessage({ started: true })
  }
  if (e.data.stop) {
    clearInterval(timer)
    db?.close()
    db = undefined
    self.postMessage({ stopped: true })
  }
}
