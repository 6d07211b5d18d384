import { describe, expect, test } from 'bun:test'
import { PollLoop } from '../../src/util/poll-loop.ts'
import { FakeClock } from '../helpers/fake-clock.ts'
import { withJitter } from '../../src/util/backoff.ts'
import { safeErrorText } from '../../src/util/safe-error.ts'

describe('PollLoop', () => {
  const setup = (nextDue: () => Promise<number | null>) => {
    const clock = new FakeClock()
    let pumps = 0
    const loop = new PollLoop({ pump: () => void pumps++, nextDue, pollMs: 1000, clock, onError: () => {} })
    return { clock, loop, pumps: () => pumps }
  }
  const cases: [string, (now: number) => number | null, number, number][] = [
    ['nothing due: sleeps the poll interval', () => null, 999, 1],
    ['nothing due: wakes after the poll interval', () => null, 1000, 2],
    ['due in 200 ms: wakes then', (now) => now + 200, 200, 2],
    ['due in 5 s: wakes at the poll interval', (now) => now + 5000, 1000, 2],
    // Due already but not started (no free slot): waits for a completion's wake, never spins.
    ['due already: sleeps the poll interval instead of spinning', (now) => now - 10, 999, 1],
  ]
  for (const [name, due, advance, pumps] of cases)
    test(name, async () => {
      let now = 0
      const s = setup(async () => due(now))
      now = s.clock.now()
      s.loop.start()
      // The sleep is armed once the pump and nextDue have settled.
      await s.loop.idle()
      s.clock.advance(advance)
      await s.loop.idle()
      expect(s.pumps()).toBe(pumps)
    })

  test('wake pumps at once; stop cancels the sleep; a throwing pump is reported, the loop goes on', async () => {
    const clock = new FakeClock()
    const errors: unknown[] = []
    let n = 0
    const loop = new PollLoop({
      pump: () => {
        if (++n === 2) throw new Error('boom')
      },
      nextDue: async () => null,
      pollMs: 100,
      clock,
      onError: (e) => errors.push(e),
    })
    loop.start()
    expect(n).toBe(1)
    await loop.idle()
    loop.wake()
    expect(n).toBe(2)
    expect(errors.length).toBe(1)
    await loop.idle()
    clock.advance(100)
    expect(n).toBe(3)
    await loop.idle()
    loop.stop()
    clock.advance(1000)
    expect(n).toBe(3)
    loop.wake()
    expect(n).toBe(3)
  })

  test('a wake while a pump runs makes exactly one more pump follow it (however many wakes came)', async () => {
    const clock = new FakeClock()
    const gates: (() => void)[] = []
    let n = 0
    const loop = new PollLoop({
      pump: () => {
        n++
        return new Promise<void>((resolve) => gates.push(resolve))
      },
      nextDue: async () => null,
      pollMs: 100,
      clock,
      onError: () => {},
    })
    loop.start()
    expect(n).toBe(1)
    loop.wake()
    loop.wake()
    expect(n).toBe(1) // not concurrently
    gates.shift()!()
    for (let i = 0; i < 100 && n < 2; i++) await Promise.resolve() // a few microtask turns, bounded
    expect(n).toBe(2)
    gates.shift()!()
    await loop.idle()
    expect(n).toBe(2)
    expect(clock.timers).toHaveLength(1) // then sleeps
    loop.stop()
  })
})

describe('withJitter', () => {
  const cases: [number, number, number][] = [
    [1000, 0, 800],
    [1000, 0.5, 1000],
    [1000, 0.999999, 1200],
    [0, 0.7, 0],
  ]
  for (const [ms, r, want] of cases) test(`${ms} ms, random ${r} → ${want}`, () => expect(withJitter(ms, () => r)).toBe(want))
})

describe('safeErrorText', () => {
  const cases: [string, unknown, Parameters<typeof safeErrorText>[1], string][] = [
    ['an error message', new Error('bad thing'), {}, 'bad thing'],
    ['a string', 'plain', {}, 'plain'],
    ['URLs are replaced (they may carry credentials)', new Error('GET https://user:pw@host/x?token=abc failed'), {}, 'GET <url> failed'],
    ['secrets are redacted', new Error('key sk-live-123 refused'), { secrets: ['sk-live-123', undefined] }, 'key [redacted] refused'],
    ['short secrets are not (they would redact words)', new Error('abc'), { secrets: ['ab'] }, 'abc'],
    ['cut to max', new Error('x'.repeat(50)), { max: 10 }, 'xxxxxxx...'],
    ['a cause code first, when asked', Object.assign(new Error('fetch failed'), { cause: { code: 'ECONNREFUSED' } }), { preferCode: true }, 'ECONNREFUSED'],
    ['a cause message when asked and no code', Object.assign(new Error('fetch failed'), { cause: { message: 'socket hang up at http://h/x' } }), { preferCode: true }, 'socket hang up at <url>'],
  ]
  for (const [name, err, opts, want] of cases) test(name, () => expect(safeErrorText(err, opts)).toBe(want))
})
