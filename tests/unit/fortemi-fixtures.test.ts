/**
 * Upstream Fortemi's event fixtures validate against our AsyncAPI document (docs/asyncapi.md). The fixtures are
 * upstream's files and are not in this repository: set FORTEMI_FIXTURES_DIR to a folder of them (extracted from an
 * upstream checkout) to run this; without it the test is skipped. The envelopes of the same shape written for this
 * repository (tests/unit/asyncapi.test.ts) run everywhere.
 */
import { describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { checkFixtures, EMITTED_EVENT_TYPES, fixtureFiles } from '../../scripts/check-fortemi-fixtures.ts'

const dir = process.env.FORTEMI_FIXTURES_DIR
if (!dir) console.log('fortemi-fixtures: FORTEMI_FIXTURES_DIR is not set, upstream event fixtures not checked (see docs/asyncapi.md)')

describe.skipIf(!dir)('upstream Fortemi event fixtures (FORTEMI_FIXTURES_DIR)', () => {
  const results = dir && existsSync(dir) ? checkFixtures(fixtureFiles(dir)) : []

  test('the folder holds a fixture for every event type this server emits', () => {
    expect(dir && existsSync(dir)).toBeTruthy()
    const covered = new Set(results.map((r) => r.eventType))
    expect(EMITTED_EVENT_TYPES.filter((et) => !covered.has(et))).toEqual([])
  })

  for (const r of results.filter((r) => r.status !== 'SKIP'))
    test(`${basename(r.file)} (${r.eventType}) validates against the document`, () => {
      expect(r.problems).toEqual([])
    })
})

describe('npm run check:fortemi-fixtures', () => {
  const envelope = (event_type: string, payload: Record<string, unknown>) => ({
    event_id: '01970c3a-1111-7abc-8def-0123456789ab',
    event_type,
    occurred_at: '2026-09-01T08:30:00Z',
    memory: 'm',
    tenant_id: 't',
    actor: { id: 'u', kind: 'user', name: 'U' },
    payload_version: 1,
    payload,
  })

  test('prints PASS, FAIL (with the reason) and SKIP per fixture, and exits 1 when one fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fixtures-'))
    try {
      // Upstream's layout: the fixtures in `events/` next to a manifest.
      mkdirSync(join(dir, 'events'))
      writeFileSync(join(dir, 'manifest.json'), '{}')
      writeFileSync(join(dir, 'events', 'a_note_deleted.json'), JSON.stringify(envelope('note.deleted', { type: 'NoteDeleted', note_id: 'n' })))
      writeFileSync(join(dir, 'events', 'b_job_failed.json'), JSON.stringify(envelope('job.failed', { type: 'JobFailed', job_id: 'j', job_type: 'X' })))
      writeFileSync(join(dir, 'events', 'c_tag_created.json'), JSON.stringify(envelope('tag.created', { type: 'TagCreated', tag: 'x' })))
      writeFileSync(join(dir, 'events', 'd_broken.json'), '{')
      const run = async (...args: string[]) => {
        const proc = Bun.spawn([process.execPath, join(import.meta.dir, '..', '..', 'scripts', 'check-fortemi-fixtures.ts'), ...args], { stdout: 'pipe', stderr: 'pipe' })
        const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
        return { out, err, code }
      }
      const r = await run(dir)
      expect(r.code).toBe(1)
      expect(r.out).toContain('PASS a_note_deleted.json (note.deleted)')
      expect(r.out).toMatch(/FAIL b_job_failed\.json \(job\.failed\)\n\s+\/payload must have required property 'error'/)
      expect(r.out).toContain('SKIP c_tag_created.json (tag.created)')
      expect(r.out).toMatch(/FAIL d_broken\.json\n\s+not JSON/)
      expect(r.out).toContain('1 PASS, 2 FAIL, 1 SKIP')

      rmSync(join(dir, 'events', 'b_job_failed.json'))
      rmSync(join(dir, 'events', 'd_broken.json'))
      expect((await run(join(dir, 'events'))).code).toBe(0)
      const usage = await run(join(dir, 'nowhere'))
      expect(usage.code).toBe(2)
      expect(usage.err).toContain('usage')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
