import { describe, expect, test } from 'bun:test'
import { EVENT_TYPES } from '../../src/events/catalog.ts'
import { compileEventFilter, normaliseEventNames } from '../../src/modules/webhooks/filter.ts'

const ALL = Object.values(EVENT_TYPES) as string[]
const sorted = (s: Iterable<string>) => [...s].sort()

describe('compileEventFilter', () => {
  const cases: [string[], string[]][] = [
    [['job.completed'], ['job.completed']],
    [['JobCompleted'], ['job.completed']],
    [['JobFailed', 'note.deleted'], ['job.failed', 'note.deleted']],
    [['job'], ['job.completed', 'job.failed', 'job.progress', 'job.queued', 'job.started']],
    [['note'], ['note.created', 'note.deleted', 'note.updated']],
    [['queue'], ['queue.status']],
    [['*'], ALL.filter((t) => t !== 'queue.status' && t !== 'job.progress')],
    [['*', 'job.progress'], ALL.filter((t) => t !== 'queue.status')],
    [['*', 'QueueStatus', 'JobProgress'], ALL],
    [[' job.started '], ['job.started']],
  ]
  for (const [names, expected] of cases) {
    test(`${JSON.stringify(names)}`, () => {
      const f = compileEventFilter(names)
      expect(f.unknown).toEqual([])
      expect(sorted(f.types)).toEqual(sorted(expected))
    })
  }

  const unknown: [string[], string[]][] = [
    [['job.exploded'], ['job.exploded']],
    [['jobz'], ['jobz']],
    [['Job'], ['Job']],
    [['job.'], ['job.']],
    [[''], ['']],
    [['**'], ['**']],
    [['job.completed', 'nope', 'note'], ['nope']],
  ]
  for (const [names, bad] of unknown) {
    test(`${JSON.stringify(names)} → unknown ${JSON.stringify(bad)}`, () => expect(compileEventFilter(names).unknown).toEqual(bad))
  }


  test('normaliseEventNames trims and de-duplicates, keeping order', () => {
    expect(normaliseEventNames([' job ', 'note', 'job', 'JobFailed'])).toEqual(['job', 'note', 'JobFailed'])
  })
})
