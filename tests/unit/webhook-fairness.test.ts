import { describe, expect, test } from 'bun:test'
import { planLaunches, type Candidate, type SlotLimits, type SlotState } from '../../src/modules/webhooks/fairness.ts'

/** `w1@a:3` = a due row of webhook w1 in memory a with seq 3. */
const rows = (...specs: string[]): (Candidate & { label: string })[] =>
  specs.map((label) => {
    const [hook, rest] = label.split('@') as [string, string]
    const [memory, seq] = rest.split(':') as [string, string]
    return { label, webhook_id: hook, memory, seq: Number(seq) }
  })

function state(p: Partial<{ perWebhook: Record<string, number>; perMemory: Record<string, number>; slow: string[]; lastServed: Record<string, number> }> = {}): SlotState {
  const perWebhook = new Map(Object.entries(p.perWebhook ?? {}))
  const lastServed = new Map(Object.entries(p.lastServed ?? {}))
  return {
    total: [...perWebhook.values()].reduce((a, b) => a + b, 0),
    perWebhook,
    perMemory: new Map(Object.entries(p.perMemory ?? {})),
    slow: new Set(p.slow ?? []),
    lastServed,
    clock: Math.max(0, ...lastServed.values()) + 1,
  }
}

const limits = (global: number, endpoint: number, memory: number): SlotLimits => ({ global, endpoint, memory })

describe('planLaunches', () => {
  const cases: [string, ReturnType<typeof rows>, SlotState, SlotLimits, string[]][] = [
    ['nothing due', rows(), state(), limits(16, 4, 8), []],
    ['one webhook: its rows oldest first, up to its cap', rows('w1@a:3', 'w1@a:1', 'w1@a:2', 'w1@a:4', 'w1@a:5'), state(), limits(16, 4, 8), ['w1@a:1', 'w1@a:2', 'w1@a:3', 'w1@a:4']],
    ['round-robin across webhooks, not oldest-first across all', rows('w1@a:1', 'w1@a:2', 'w1@a:3', 'w2@a:4', 'w2@a:5'), state(), limits(4, 4, 8), ['w1@a:1', 'w2@a:4', 'w1@a:2', 'w2@a:5']],
    ['the global cap', rows('w1@a:1', 'w2@b:2', 'w3@c:3'), state({ perWebhook: { w9: 1 }, perMemory: { z: 1 } }), limits(3, 4, 8), ['w1@a:1', 'w2@b:2']],
    ['a memory at its cap waits; another memory is served', rows('w1@a:1', 'w2@a:2', 'w3@b:9'), state({ perWebhook: { w1: 2 }, perMemory: { a: 2 } }), limits(16, 4, 2), ['w3@b:9']],
    ['memory cap across its webhooks', rows('w1@a:1', 'w2@a:2', 'w3@a:3', 'w4@a:4'), state(), limits(16, 4, 3), ['w1@a:1', 'w2@a:2', 'w3@a:3']],
    ['the memory with fewer in flight goes first, even with newer rows', rows('w1@a:1', 'w2@b:7'), state({ perWebhook: { w1: 1 }, perMemory: { a: 1 } }), limits(2, 4, 8), ['w2@b:7']],
    ['within a memory, the webhook with fewer in flight goes first', rows('w1@a:1', 'w1@a:2', 'w2@a:3'), state({ perWebhook: { w1: 1 }, perMemory: { a: 1 } }), limits(2, 4, 8), ['w2@a:3']],
    ['ties: the webhook served least recently goes first', rows('w1@a:1', 'w2@a:2'), state({ lastServed: { w1: 5, w2: 3 } }), limits(1, 4, 8), ['w2@a:2']],
    ['ties: never-served before served', rows('w1@a:1', 'w2@a:2'), state({ lastServed: { w1: 1 } }), limits(1, 4, 8), ['w2@a:2']],
    ['a slow (timing-out) webhook gets one slot', rows('w1@a:1', 'w1@a:2', 'w1@a:3', 'w2@b:4'), state({ slow: ['w1'] }), limits(16, 4, 8), ['w1@a:1', 'w2@b:4']],
    ['a slow webhook with an attempt in flight gets none', rows('w1@a:1', 'w1@a:2'), state({ slow: ['w1'], perWebhook: { w1: 1 }, perMemory: { a: 1 } }), limits(16, 4, 8), []],
    ['a webhook at its endpoint cap gets none', rows('w1@a:5', 'w2@a:6'), state({ perWebhook: { w1: 4 }, perMemory: { a: 4 } }), limits(16, 4, 8), ['w2@a:6']],
  ]
  for (const [name, candidates, s, l, expected] of cases) {
    test(name, () => {
      expect(planLaunches(candidates, s, l).map((c) => c.label)).toEqual(expected)
    })
  }

  test('four hanging webhooks of one memory leave slots to another memory (defaults 16 / 4 / 8)', () => {
    const a = rows(...Array.from({ length: 16 }, (_, i) => `a${i % 4}@A:${i + 1}`))
    const planned = planLaunches(a, state(), limits(16, 4, 8))
    expect(planned).toHaveLength(8)
    const after = state({ perWebhook: { a0: 2, a1: 2, a2: 2, a3: 2 }, perMemory: { A: 8 } })
    expect(planLaunches([...a.slice(8), ...rows('b@B:100')], after, limits(16, 4, 8)).map((c) => c.label)).toEqual(['b@B:100'])
  })

  test('does not mutate the state it is given', () => {
    const s = state({ perWebhook: { w1: 1 }, perMemory: { a: 1 } })
    planLaunches(rows('w1@a:1', 'w2@a:2'), s, limits(16, 4, 8))
    expect([...s.perWebhook]).toEqual([['w1', 1]])
    expect([...s.perMemory]).toEqual([['a', 1]])
    expect(s.lastServed.size).toBe(0)
  })
})
