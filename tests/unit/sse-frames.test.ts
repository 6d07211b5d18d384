import { describe, expect, test } from 'bun:test'
import { commentFrame, eventFrame, frame, KEEPALIVE, laggedFrame, resyncFrame, retryFrame, type FrameFields } from '../../src/modules/realtime/sse-frames.ts'

describe('frame', () => {
  const cases: [string, FrameFields, string][] = [
    ['id, event and data', { id: 'e1', event: 'job.completed', data: '{"a":1}' }, 'id: e1\nevent: job.completed\ndata: {"a":1}\n\n'],
    ['no id (synthetic)', { event: 'events.lagged', data: '{}' }, 'event: events.lagged\ndata: {}\n\n'],
    ['data only', { data: 'x' }, 'data: x\n\n'],
    ['empty data', { data: '' }, 'data: \n\n'],
    ['LF in data → one data line each', { data: 'a\nb' }, 'data: a\ndata: b\n\n'],
    ['CRLF and CR in data', { data: 'a\r\nb\rc' }, 'data: a\ndata: b\ndata: c\n\n'],
    ['line breaks stripped from id and event', { id: 'e\n1', event: 'x\r\ny', data: 'd' }, 'id: e1\nevent: xy\ndata: d\n\n'],
    ['NUL stripped from id', { id: 'e\u00001', data: 'd' }, 'id: e1\ndata: d\n\n'],
  ]
  for (const [name, fields, want] of cases) test(name, () => expect(frame(fields)).toBe(want))
})

describe('frame helpers', () => {
  const cases: [string, string, string][] = [
    ['retry', retryFrame(3000), 'retry: 3000\n\n'],
    ['retry rounds down', retryFrame(1500.7), 'retry: 1500\n\n'],
    ['retry never negative', retryFrame(-5), 'retry: 0\n\n'],
    ['keepalive comment', KEEPALIVE, ': keepalive\n\n'],
    ['comment without line breaks', commentFrame('a\nb'), ': a b\n\n'],
    [
      'event frame',
      eventFrame('0193-1', 'note.created', '{"event_id":"0193-1"}'),
      'id: 0193-1\nevent: note.created\ndata: {"event_id":"0193-1"}\n\n',
    ],
    ['lagged', laggedFrame(42), 'event: events.lagged\ndata: {"dropped_count":42}\n\n'],
    [
      'resync',
      resyncFrame('unknown_event_id', 'nope'),
      'event: resync_required\ndata: {"reason":"unknown_event_id","last_known_id":"nope"}\n\n',
    ],
    [
      'resync escapes the echoed id as JSON',
      resyncFrame('expired_event_id', 'a"b\nc'),
      'event: resync_required\ndata: {"reason":"expired_event_id","last_known_id":"a\\"b\\nc"}\n\n',
    ],
  ]
  for (const [name, got, want] of cases) test(name, () => expect(got).toBe(want))

  test('synthetic frames never carry an id', () => {
    for (const f of [laggedFrame(1), resyncFrame('replay_overtaken', 'x'), KEEPALIVE, retryFrame(1)]) expect(f).not.toMatch(/^id:/m)
  })
})
