import { describe, expect, test } from 'bun:test'
import type { EventRow } from '../../src/events/store.ts'
import { ApiError } from '../../src/http/errors.ts'
import type { ResyncReason } from '../../src/modules/realtime/sse-frames.ts'
import {
  matches,
  parseEntityId,
  parseLastEventId,
  parseRowTags,
  parseTypes,
  resyncReason,
  rowFacts,
  uuidV7Millis,
  type EventFacts,
  type StreamFilter,
} from '../../src/modules/realtime/sse-filter.ts'
import { originAllowed } from '../../src/http/origin.ts'

function status(fn: () => unknown): number | 'ok' {
  try {
    fn()
    return 'ok'
  } catch (e) {
    if (e instanceof ApiError) return e.status
    throw e
  }
}

describe('parseTypes', () => {
  const ok: [string | null, string[] | null][] = [
    [null, null],
    ['job.completed', ['job.completed']],
    ['JobCompleted', ['job.completed']],
    ['job', ['job.queued', 'job.started', 'job.progress', 'job.completed', 'job.failed']],
    ['note', ['note.updated', 'note.created', 'note.deleted']],
    ['queue', ['queue.status']],
    ['QueueStatus,note.deleted', ['queue.status', 'note.deleted']],
    [' job.failed , NoteUpdated ', ['job.failed', 'note.updated']],
    ['job.failed,', ['job.failed']],
    ['job,job.failed', ['job.queued', 'job.started', 'job.progress', 'job.completed', 'job.failed']],
    ['jobs', ['jobs.paused', 'jobs.resumed']],
    ['JobsPaused', ['jobs.paused']],
    // Names of the upstream Fortemi catalog this server never emits: accepted, matching nothing.
    ['collection', []],
    ['tag.renamed,concept_scheme,archive', []],
    ['events,resync_required,events.lagged', []],
    ['TagMerged,index,readmodel,inference', []],
    ['attachment.extraction.updated,note.tags.updated', []],
    // HotM's default prefix list: only the types this server emits remain.
    [
      'note,job,jobs,queue,collection,tag,concept,concept_scheme,archive,attachment,events,resync_required,index,readmodel,inference',
      ['job.queued', 'job.started', 'job.progress', 'job.completed', 'job.failed', 'jobs.paused', 'jobs.resumed', 'note.updated', 'note.created', 'note.deleted', 'queue.status'],
    ],
  ]
  for (const [raw, want] of ok)
    test(`${JSON.stringify(raw)} → ${want ? want.join(',') : 'everything'}`, () => {
      const got = parseTypes(raw)
      expect(got === null ? null : ([...got].sort() as string[])).toEqual(want === null ? null : [...want].sort())
    })

  const bad: [string, RegExp][] = [
    ['', /at least one event type/],
    [' , ', /at least one event type/],
    ['bogus', /unknown event type "bogus"/],
    ['job,bogus,nope', /unknown event types "bogus", "nope"/],
    ['jobcompleted', /unknown event type/],
    ['job.', /unknown event type/],
    ['*', /unknown event type/],
    ['collections', /unknown event type/],
    ['tag.', /unknown event type/],
    ['note.tags.up', /unknown event type/],
    [Array.from({ length: 51 }, () => 'job').join(','), /at most 50/],
  ]
  for (const [raw, msg] of bad)
    test(`${JSON.stringify(raw.slice(0, 20))} → 400`, () => {
      expect(status(() => parseTypes(raw))).toBe(400)
      expect(() => parseTypes(raw)).toThrow(msg)
    })
})

describe('parseEntityId / parseLastEventId', () => {
  const cases: [string, () => unknown, unknown][] = [
    ['entity absent', () => parseEntityId(null), null],
    ['entity trimmed', () => parseEntityId(' abc '), 'abc'],
    ['header wins over query', () => parseLastEventId('h', 'q'), 'h'],
    ['query when no header', () => parseLastEventId(null, 'q'), 'q'],
    ['blank header falls back to query', () => parseLastEventId('  ', 'q'), 'q'],
    ['neither', () => parseLastEventId(null, undefined), null],
    ['blank both', () => parseLastEventId('', ''), null],
  ]
  for (const [name, fn, want] of cases) test(name, () => expect(fn()).toEqual(want))

  test('empty or over-long entity_id → 400', () => {
    expect(status(() => parseEntityId(''))).toBe(400)
    expect(status(() => parseEntityId('x'.repeat(129)))).toBe(400)
  })
  test('over-long last event id → 400', () => expect(status(() => parseLastEventId('x'.repeat(129), null))).toBe(400))
})

describe('matches', () => {
  const base: StreamFilter = { memory: 'm1', types: null, entityId: null, tags: null }
  const ev = (over: Partial<EventFacts> = {}): EventFacts => ({ memory: 'm1', eventType: 'job.completed', entityId: 'j1', tags: ['a'], ...over })
  const cases: [string, Partial<StreamFilter>, EventFacts, boolean][] = [
    ['same memory, no filter', {}, ev(), true],
    ['other memory', {}, ev({ memory: 'm2' }), false],
    ['type listed', { types: new Set(['job.completed'] as const) }, ev(), true],
    ['type not listed', { types: new Set(['job.failed'] as const) }, ev(), false],
    ['entity matches', { entityId: 'j1' }, ev(), true],
    ['entity differs', { entityId: 'j2' }, ev(), false],
    ['entity filter, event without entity', { entityId: 'j1' }, ev({ entityId: undefined }), false],
    ['tag-restricted, tags intersect', { tags: ['b', 'a'] }, ev(), true],
    ['tag-restricted, no common tag', { tags: ['b'] }, ev(), false],
    ['tag-restricted, memory-wide event (tags null)', { tags: ['a'] }, ev({ tags: null, eventType: 'queue.status' }), false],
    ['tag-restricted, note without tags', { tags: ['a'] }, ev({ tags: [] }), false],
    ['unrestricted sees memory-wide events', {}, ev({ tags: null, eventType: 'queue.status' }), true],
    ['all conditions at once', { types: new Set(['job.completed'] as const), entityId: 'j1', tags: ['a'] }, ev(), true],
  ]
  for (const [name, f, e, want] of cases) test(name, () => expect(matches({ ...base, ...f }, e)).toBe(want))
})

describe('rowFacts / parseRowTags', () => {
  const row = (tags: string | null): EventRow => ({
    seq: 1,
    event_id: 'e',
    memory: 'm',
    event_type: 'note.updated',
    entity_id: 'n',
    tags,
    envelope: '{}',
    created_ms: 0,
  })
  const cases: [string | null, string[] | null][] = [
    [null, null],
    ['["a","b"]', ['a', 'b']],
    ['[]', []],
    ['[1,"a"]', ['a']],
    ['not json', null],
    ['{"a":1}', null],
  ]
  for (const [raw, want] of cases) test(`tags ${raw}`, () => expect(parseRowTags(raw)).toEqual(want))

  test('tags are only parsed when needed', () => {
    expect(rowFacts(row('["a"]'), false)).toEqual({ memory: 'm', eventType: 'note.updated', entityId: 'n', tags: null })
    expect(rowFacts(row('["a"]'), true).tags).toEqual(['a'])
  })
})

describe('originAllowed', () => {
  const list = ['https://app.example.com', 'http://localhost:5173']
  const cases: [string, readonly string[] | undefined, string | null, boolean][] = [
    ['no list configured', undefined, 'https://evil.example', true],
    ['no Origin header', list, null, true],
    ['listed', list, 'https://app.example.com', true],
    ['listed with port', list, 'http://localhost:5173', true],
    ['case and default port normalised', list, 'HTTPS://APP.EXAMPLE.COM:443', true],
    ['other host', list, 'https://evil.example', false],
    ['other port', list, 'http://localhost:3000', false],
    ['other scheme', list, 'http://app.example.com', false],
    ['opaque origin', list, 'null', false],
    ['garbage', list, '::::', false],
    ['empty list refuses every browser', [], 'https://app.example.com', false],
  ]
  for (const [name, allowed, origin, want] of cases) test(name, () => expect(originAllowed(allowed, origin)).toBe(want))
})

describe('resyncReason / uuidV7Millis', () => {
  const v7 = '01936b2e-7c7a-7cc3-9b1e-4f1d2a3b4c5d'
  const ms = 0x01936b2e7c7a
  test('UUIDv7 timestamp', () => expect(uuidV7Millis(v7)).toBe(ms))
  test('not a UUIDv7', () => {
    expect(uuidV7Millis('0193a0c4-2f1e-4b7d-8f3c-1a2b3c4d5e6f')).toBeNull()
    expect(uuidV7Millis('nope')).toBeNull()
  })
  const cases: [string, string, number | null, ResyncReason][] = [
    ['older than the oldest retained event → expired', v7, ms + 1, 'expired_event_id'],
    ['newer than the oldest retained event → unknown', v7, ms - 1, 'unknown_event_id'],
    ['empty log → unknown', v7, null, 'unknown_event_id'],
    ['not a UUIDv7 → unknown', 'whatever', 0, 'unknown_event_id'],
  ]
  for (const [name, id, oldest, want] of cases) test(name, () => expect(resyncReason(id, oldest)).toBe(want))
})
