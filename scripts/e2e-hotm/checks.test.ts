import { describe, expect, test } from 'bun:test'
import { diffSequence, fieldViolation, isCleanDiff, ruleViolations, sameCounts, type EventRule, type FieldRule } from './checks.ts'

const uuid = '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'
const other = '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c'

const str: FieldRule = { types: ['string'], nullable: false }
const uuidRule: FieldRule = { types: ['string'], nullable: false, format: 'uuid' }
const uuidOrNull: FieldRule = { types: ['string', 'null'], nullable: true, format: 'uuid' }
const int: FieldRule = { types: ['integer'], nullable: false, format: 'int32' }
const tags: FieldRule = { types: ['array'], nullable: false, items: { types: ['string'], nullable: false } }

describe('fieldViolation', () => {
  test.each([
    ['string ok', 'x', str, undefined],
    ['null where not nullable', null, str, 'is null'],
    ['null where nullable', null, uuidOrNull, undefined],
    ['number for string', 3, str, 'is number, expected string'],
    ['non-uuid', 'job-1', uuidRule, 'is "job-1", not a UUID'],
    ['uuid ok', uuid, uuidRule, undefined],
    ['integer ok', 40, int, undefined],
    ['float for integer', 40.5, int, 'is non-integer number, expected integer'],
    ['string for integer', '40', int, 'is string, expected integer'],
    ['array of strings', ['a', 'b'], tags, undefined],
    ['array with a number', ['a', 2], tags, '[1] is number, expected string'],
    ['object for array', { a: 1 }, tags, 'is object, expected array'],
    ['enum mismatch', 'JobQueued', { types: ['string'], nullable: false, enum: ['JobStarted'] }, 'is "JobQueued", expected one of JobStarted'],
  ] as const)('%s', (_, value, rule, expected) => {
    expect(fieldViolation(value, rule as FieldRule)).toBe(expected)
  })
})

const progressRule: EventRule = {
  eventType: 'job.progress',
  legacyType: 'JobProgress',
  required: ['job_id', 'progress', 'type'],
  fields: { job_id: uuidRule, message: { types: ['string', 'null'], nullable: true }, note_id: uuidOrNull, progress: int, type: { ...str, enum: ['JobProgress'] } },
}

describe('ruleViolations', () => {
  const good = { type: 'job.progress', payload_type: 'JobProgress', event_id: uuid, job_id: other, progress: 50 }
  test.each([
    ['conformant envelope', good, true, []],
    ['legacy WS frame', { type: 'JobProgress', job_id: other, progress: 5 }, false, []],
    ['progress missing (only progress_percent)', { ...good, progress: undefined, progress_percent: 50 }, true, ['progress is undefined, expected integer']],
    ['progress absent', (({ progress: _, ...rest }) => rest)(good), true, ['required field progress is missing']],
    ['event_id not a UUID', { ...good, event_id: '42' }, true, ['event_id "42" is not a UUID']],
    ['correlation_id not a UUID', { ...good, correlation_id: 'req-1' }, true, ['correlation_id "req-1" is not a UUID']],
    ['causation_id UUID is fine', { ...good, causation_id: other }, true, []],
    ['wrong payload type', { ...good, payload_type: 'JobStarted' }, true, ['payload.type is "JobStarted", expected JobProgress']],
    ['job_id not a UUID', { ...good, job_id: 'job-7' }, true, ['job_id is "job-7", not a UUID']],
    ['note_id null allowed', { ...good, note_id: null }, true, []],
  ] as const)('%s', (_, input, asEnvelope, expected) => {
    expect(ruleViolations(input as Record<string, unknown>, progressRule, asEnvelope)).toEqual([...expected])
  })
})

describe('diffSequence', () => {
  test.each([
    ['identical', ['a', 'b', 'c'], ['a', 'b', 'c'], { missing: [], duplicates: [], unexpected: [], reordered: false }],
    ['gap', ['a', 'b', 'c'], ['a', 'c'], { missing: ['b'], duplicates: [], unexpected: [], reordered: false }],
    ['duplicate after replay', ['a', 'b', 'c'], ['a', 'b', 'b', 'c'], { missing: [], duplicates: ['b'], unexpected: [], reordered: false }],
    ['unexpected id', ['a', 'b'], ['a', 'x', 'b'], { missing: [], duplicates: [], unexpected: ['x'], reordered: false }],
    ['reordered', ['a', 'b', 'c'], ['a', 'c', 'b'], { missing: [], duplicates: [], unexpected: [], reordered: true }],
    ['empty', [], [], { missing: [], duplicates: [], unexpected: [], reordered: false }],
  ] as const)('%s', (_, truth, seen, expected) => {
    const d = diffSequence(truth, seen)
    expect(d).toEqual(expected as unknown as typeof d)
    expect(isCleanDiff(d)).toBe(_ === 'identical' || _ === 'empty')
  })
})

describe('sameCounts', () => {
  test('equal, different, missing', () => {
    expect(sameCounts({ total_jobs: 1, running: 1, pending: 0 }, { total_jobs: 1, running: 1, pending: 0 })).toBe(true)
    expect(sameCounts({ total_jobs: 1, running: 0, pending: 1 }, { total_jobs: 1, running: 1, pending: 0 })).toBe(false)
    expect(sameCounts(null, { total_jobs: 0, running: 0, pending: 0 })).toBe(false)
  })
})
