import { describe, expect, test } from 'bun:test'
import { ROOT_CONTEXT, trace, type TextMapGetter } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { formatTraceparent, parseTraceparent } from '../../src/telemetry/traceparent.ts'

const T = '4bf92f3577b34da6a3ce929d0e0e4736'
const S = '00f067aa0ba902b7'

describe('parseTraceparent', () => {
  const cases: [string, string | null | undefined, { traceId: string; spanId: string; traceFlags: number } | undefined][] = [
    ['sampled', `00-${T}-${S}-01`, { traceId: T, spanId: S, traceFlags: 1 }],
    ['not sampled', `00-${T}-${S}-00`, { traceId: T, spanId: S, traceFlags: 0 }],
    ['other flag bits kept', `00-${T}-${S}-03`, { traceId: T, spanId: S, traceFlags: 3 }],
    ['surrounding whitespace', `  00-${T}-${S}-01 `, { traceId: T, spanId: S, traceFlags: 1 }],
    ['future version with extra fields', `01-${T}-${S}-01-whatever`, { traceId: T, spanId: S, traceFlags: 1 }],
    ['future version, exact length', `cc-${T}-${S}-01`, { traceId: T, spanId: S, traceFlags: 1 }],
    ['missing', undefined, undefined],
    ['null', null, undefined],
    ['empty', '', undefined],
    ['version ff is invalid', `ff-${T}-${S}-01`, undefined],
    ['version 00 with extra fields', `00-${T}-${S}-01-extra`, undefined],
    ['future version, junk right after the flags', `01-${T}-${S}-01x`, undefined],
    ['uppercase hex', `00-${T.toUpperCase()}-${S}-01`, undefined],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${S}-01`, undefined],
    ['all-zero span id', `00-${T}-${'0'.repeat(16)}-01`, undefined],
    ['short trace id', `00-${T.slice(1)}-${S}-01`, undefined],
    ['non-hex flags', `00-${T}-${S}-0g`, undefined],
    ['wrong separators', `00_${T}_${S}_01`, undefined],
    ['non-hex version', `0x-${T}-${S}-01`, undefined],
  ]
  for (const [name, input, want] of cases) test(name, () => expect(parseTraceparent(input)).toEqual(want))

  // The OTel propagator is the reference implementation: valid/invalid must agree on the strict cases.
  const propagator = new W3CTraceContextPropagator()
  const getter: TextMapGetter<Record<string, string>> = { get: (c, k) => c[k], keys: (c) => Object.keys(c) }
  for (const [name, input] of cases) {
    if (!input || name.includes('whitespace')) continue
    test(`agrees with W3CTraceContextPropagator: ${name}`, () => {
      const ctx = propagator.extract(ROOT_CONTEXT, { traceparent: input }, getter)
      const sc = trace.getSpanContext(ctx)
      expect(sc ? { traceId: sc.traceId, spanId: sc.spanId } : undefined).toEqual(
        parseTraceparent(input) ? { traceId: T, spanId: S } : undefined,
      )
    })
  }
})

describe('formatTraceparent', () => {
  const cases: [number, string][] = [
    [1, `00-${T}-${S}-01`],
    [0, `00-${T}-${S}-00`],
    [3, `00-${T}-${S}-03`],
    [0x1ff, `00-${T}-${S}-ff`],
  ]
  for (const [flags, want] of cases) test(`flags ${flags}`, () => expect(formatTraceparent({ traceId: T, spanId: S, traceFlags: flags })).toBe(want))

  test('round-trips', () => {
    const v = `00-${T}-${S}-01`
    expect(formatTraceparent(parseTraceparent(v)!)).toBe(v)
  })
})
