import type { Database } from 'bun:sqlite'
import type { Logger } from '../../telemetry/log.ts'

/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL
 * pages: that commit copies the log back into the database file and fsyncs it on the event loop, stalling every
 * transport for as long as the disk takes (measured: a ~0.1 ms group commit now and then taking 50–700 ms on this
 * machine; see BENCHMARKS.md). Here the main connection never checkpoints; a worker thread does, every
 * `intervalMs`, on its own connection. If the worker cannot start, automatic checkpoints are turned back on.
 */
export class Checkpointer {
  private worker: Worker | undefined

  private constructor(
    private db: Database,
    private logger: Logger,
  ) {}

  static start(db: Database, path: string, logger: Logger, intervalMs = 1000): Checkpointer {
    const c = new Checkpointer(db, logger)
    if (path === ':memory:') return c // nothing on disk
    try {
      db.exec('PRAGMA wal_autocheckpoint = 0')
      const w = new Worker(new URL('./checkpoint-worker.ts', import.meta.url).href)
      w.onmessage = (e: MessageEvent<{ error?: string }>) => {
        if (e.data.error) logger.warn('WAL checkpoint failed; the next one retries', { error: e.data.error })
      }
      w.onerror = (e) => c.fallBack(e.message)
      w.postMessage({ start: { path, intervalMs } })
      w.unref()
      c.worker = w
    } catch (err) {
      c.fallBack(err instanceof Error ? err.message : String(err))
    }
    return c
  }

  private fallBack(reason: string): void {
    this.logger.warn('WAL checkpoint thread unavailable: checkpoints run in commits again', { reason })
    this.worker?.terminate()
    this.worker = undefined
    try {
      this.db.exec('PRAGMA wal_autocheckpoint = 1000')
    } catch {
      // the store is closing
    }
  }

  /** Ends the thread at once (a start that failed half-way); its connection goes with it. */
  terminate(): void {
    this.worker?.terminate()
    this.worker = undefined
  }

  /** Stops the thread (its connection closed) before the store closes; the main connection's close checkpoints. */
  async stop(timeoutMs = 2000): Promise<void> {
    const w = this.worker
    if (!w) return
    this.worker = undefined
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      w.onmessage = (e: MessageEvent<{ stopped?: boolean }>) => {
        if (e.data.stopped) {
          clearTimeout(timer)
          resolve()
        }
      }
      w.postMessage({ stop: true })
    })
    w.terminate()
  }
}
