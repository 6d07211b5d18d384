/** The SQLite store holds every note: its files are for the service's user only, whatever the umask or the data dir's mode. */
import { afterAll, describe, expect, test } from 'bun:test'
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startServer } from '../helpers/server.ts'

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

const FILES = ['matric.db', 'matric.db-wal', 'matric.db-shm']
const modes = (dir: string) => Object.fromEntries(FILES.map((f) => [f, existsSync(join(dir, f)) ? (statSync(join(dir, f)).mode & 0o777).toString(8) : 'missing']))

describe('store file permissions', () => {
  test('in an existing 0755 data dir, the db, -wal and -shm files are created 0600', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'matric-files-'))
    dirs.push(dir)
    chmodSync(dir, 0o755)
    const s = await startServer({ dataDir: dir })
    try {
      expect((await s.request('/api/v1/notes', { token: await s.token(), body: { content: 'private' } })).status).toBe(201)
      expect(modes(dir)).toEqual({ 'matric.db': '600', 'matric.db-wal': '600', 'matric.db-shm': '600' })
    } finally {
      await s.stop()
    }
  })

  test('files someone loosened are tightened at the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'matric-files-'))
    dirs.push(dir)
    const first = await startServer({ dataDir: dir })
    await first.request('/api/v1/notes', { token: await first.token(), body: { content: 'private' } })
    for (const f of FILES) if (existsSync(join(dir, f))) chmodSync(join(dir, f), 0o644)
    await first.stop()
    chmodSync(join(dir, 'matric.db'), 0o644)
    const second = await startServer({ dataDir: dir })
    try {
      expect(modes(dir)).toEqual({ 'matric.db': '600', 'matric.db-wal': '600', 'matric.db-shm': '600' })
    } finally {
      await second.stop()
    }
  })
})
