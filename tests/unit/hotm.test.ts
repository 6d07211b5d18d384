import { describe, expect, test } from 'bun:test'
import type { Payload } from '../../src/events/catalog.ts'
import { tagSetKey as tagGroupKey } from '../../src/auth/principal.ts'
import { hotmFrame, isRefreshCommand, memoryTopic } from '../../src/modules/realtime/hotm.ts'

describe('hotmFrame', () => {
  const cases: [string, Payload, string | null][] = [
    ['QueueStatus as is', { type: 'QueueStatus', total_jobs: 3, running: 1, pending: 2 }, '{"type":"QueueStatus","total_jobs":3,"running":1,"pending":2}'],
    ['JobQueued without note', { type: 'JobQueued', job_id: 'j', job_type: 'Embedding' }, '{"type":"JobQueued","job_id":"j","job_type":"Embedding"}'],
    [
      'JobProgress keeps both progress fields',
      { type: 'JobProgress', job_id: 'j', job_type: 'Linking', note_id: 'n', progress: 40, progress_percent: 40, message: 'm' },
      '{"type":"JobProgress","job_id":"j","job_type":"Linking","note_id":"n","progress":40,"progress_percent":40,"message":"m"}',
    ],
    ['JobFailed', { type: 'JobFailed', job_id: 'j', job_type: 'AiRevision', error: 'boom' }, '{"type":"JobFailed","job_id":"j","job_type":"AiRevision","error":"boom"}'],
    [
      'NoteCreated becomes NoteUpdated',
      { type: 'NoteCreated', note_id: 'n', title: 'T', tags: ['a'] },
      '{"type":"NoteUpdated","note_id":"n","title":"T","tags":["a"],"has_ai_content":false,"has_links":false}',
    ],
    ['NoteCreated without title omits it', { type: 'NoteCreated', note_id: 'n', tags: [] }, '{"type":"NoteUpdated","note_id":"n","tags":[],"has_ai_content":false,"has_links":false}'],
    ['NoteDeleted is not sent', { type: 'NoteDeleted', note_id: 'n' }, null],
    // An external publisher may send `type` last: it still goes first on the wire.
    ['type moved first', { job_id: 'j', job_type: 'X', type: 'JobStarted' } as unknown as Payload, '{"type":"JobStarted","job_id":"j","job_type":"X"}'],
  ]
  for (const [name, payload, want] of cases) test(name, () => expect(hotmFrame(payload)).toBe(want))
})

describe('isRefreshCommand', () => {
  const cases: [unknown, boolean][] = [
    ['refresh', true],
    [' refresh\n', true],
    ['Refresh', false],
    ['refresh now', false],
    ['{"type":"refresh"}', false],
    [new Uint8Array([114, 101]), false],
    [undefined, false],
  ]
  for (const [msg, want] of cases) test(`${JSON.stringify(msg)} → ${want}`, () => expect(isRefreshCommand(msg)).toBe(want))
})

describe('topics and groups', () => {
  test('tag group keys ignore order and duplicates', () => {
    expect(tagGroupKey(['b', 'a', 'b'])).toBe(tagGroupKey(['a', 'b']))
    expect(tagGroupKey(['a'])).not.toBe(tagGroupKey(['a', 'b']))
  })
  test('tag group keys are unambiguous whatever characters tags hold', () => {
    const distinct: string[][] = [['a\u0001b'], ['a', 'b'], ['a,b'], ['a","b'], ['a\\', 'b'], ['a\\","b']]
    const keys = distinct.map(tagGroupKey)
    expect(new Set(keys).size).toBe(distinct.length)
    for (const [i, tags] of distinct.entries()) expect(JSON.parse(keys[i]!)).toEqual([...new Set(tags)].sort())
  })
  test('frames carry the event id last, after the payload fields', () => {
    expect(hotmFrame({ type: 'JobQueued', job_id: 'j', job_type: 'Embedding' }, 'e-1')).toBe('{"type":"JobQueued","job_id":"j","job_type":"Embedding","event_id":"e-1"}')
    expect(hotmFrame({ type: 'NoteDeleted', note_id: 'n' }, 'e-2')).toBeNull()
  })
  test('memory topics are distinct per memory', () => expect(memoryTopic('a')).not.toBe(memoryTopic('b')))
})
