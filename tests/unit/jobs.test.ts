import { describe, expect, test } from 'bun:test'
import { FetchError } from 'ofetch'
import { jobBackoffMs } from '../../src/modules/jobs/backoff.ts'
import { completionsUrl, isTransientStatus, scrub, statusError } from '../../src/modules/jobs/handlers/ai-revision.ts'
import { TransientError } from '../../src/modules/jobs/handlers/types.ts'
import { decodeCursor, encodeCursor } from '../../src/modules/notes/service.ts'
import { normaliseTags } from '../../src/modules/notes/model.ts'
import { ApiError } from '../../src/http/errors.ts'

describe('jobBackoffMs', () => {
  test.each<[number, number, number, number]>([
    // retry, base, random, expected
    [1, 1000, 0.5, 1000],
    [2, 1000, 0.5, 4000],
    [3, 1000, 0.5, 16_000],
    [4, 20, 0.5, 1280],
    [1, 1000, 0, 800],
    [1, 1000, 1, 1200],
    [0, 1000, 0.5, 1000],
    [10, 1000, 0.5, 3_600_000],
    [30, 1000, 0, 2_880_000],
    [30, 1000, 1, 4_320_000],
  ])('retry %d, base %d, random %d → %d ms', (retry, base, r, expected) => {
    expect(jobBackoffMs(retry, base, () => r)).toBe(expected)
  })

  test('grows with each retry until the cap', () => {
    const at = (n: number) => jobBackoffMs(n, 1000, () => 0.5)
    for (let n = 2; n <= 7; n++) expect(at(n)).toBeGreaterThan(at(n - 1))
    expect(at(8)).toBe(at(9))
  })
})

describe('completionsUrl', () => {
  test.each([
    ['http://localhost:11434/v1', 'http://localhost:11434/v1/chat/completions'],
    ['http://localhost:11434/v1/', 'http://localhost:11434/v1/chat/completions'],
    ['https://api.example.com/v1/chat/completions', 'https://api.example.com/v1/chat/completions'],
    ['https://api.example.com/v1/chat/completions/', 'https://api.example.com/v1/chat/completions'],
    ['https://gw.example.com/openai', 'https://gw.example.com/openai/chat/completions'],
  ])('%s → %s', (base, expected) => {
    expect(completionsUrl(base)).toBe(expected)
  })
})

describe('isTransientStatus / statusError', () => {
  test.each<[number, boolean]>([
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [408, true],
    [409, false],
    [413, false],
    [422, false],
    [425, true],
    [429, true],
    [500, true],
    [502, true],
    [503, true],
    [504, true],
  ])('%d transient: %p', (status, transient) => {
    expect(isTransientStatus(status)).toBe(transient)
    const e = statusError(status)
    expect(e instanceof TransientError).toBe(transient)
    expect(e.message).toContain(String(status))
  })

  test('credential failures point at the setting', () => {
    expect(statusError(401).message).toContain('MATRIC_INFERENCE_API_KEY')
    expect(statusError(403).message).toContain('MATRIC_INFERENCE_API_KEY')
    expect(statusError(400).message).toBe('inference endpoint refused the request (400)')
  })

  test('FetchError is what ofetch throws (the handler depends on it)', () => {
    expect(typeof FetchError).toBe('function')
  })
})

describe('scrub', () => {
  test.each<[string, string | undefined, string]>([
    ['failed for sk-abc123', 'sk-abc123', 'failed for [redacted]'],
    ['sk-abc123 twice sk-abc123', 'sk-abc123', '[redacted] twice [redacted]'],
    ['nothing here', 'sk-abc123', 'nothing here'],
    ['no key configured', undefined, 'no key configured'],
    ['a short key abc', 'abc', 'a short key abc'],
  ])('%j', (text, secret, expected) => {
    expect(scrub(text, secret)).toBe(expected)
  })
})

describe('note list cursor', () => {
  test.each([
    { created_at: '2026-11-27T10:00:00.000Z', id: '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f' },
    { created_at: '', id: '' },
    { created_at: 'ünïcode', id: 'x"y' },
  ])('round trip %j', (c) => {
    const s = encodeCursor(c)
    expect(s).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(decodeCursor(s)).toEqual(c)
  })

  test.each([
    'zzz',
    '',
    '!!!',
    Buffer.from('{"created_at":"x","id":"y"}').toString('base64url'),
    Buffer.from('[1,2]').toString('base64url'),
    Buffer.from('["a"]').toString('base64url'),
    Buffer.from('["a","b","c"]').toString('base64url'),
    Buffer.from('null').toString('base64url'),
  ])('decodeCursor(%j) is a 400', (s) => {
    let err: unknown
    try {
      decodeCursor(s)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).status).toBe(400)
    expect((err as ApiError).message).toBe('invalid cursor')
  })
})

describe('normaliseTags', () => {
  test.each<[string[], string[]]>([
    [['a', 'b'], ['a', 'b']],
    [[' a ', 'a', 'b ', 'b'], ['a', 'b']],
    [['B', 'b'], ['B', 'b']],
    [[], []],
  ])('%j → %j', (input, expected) => {
    expect(normaliseTags(input)).toEqual(expected)
  })
})
