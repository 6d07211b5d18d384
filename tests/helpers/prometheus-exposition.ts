/**
 * A strict parser of the Prometheus text exposition format 0.0.4 for the telemetry tests: it throws with
 * the line number on anything a Prometheus server would reject or mis-read (and on a few things it merely
 * tolerates: samples without a TYPE, interleaved families, duplicate series, inconsistent histograms).
 */

/** The series docs/operations.md names (plus the bus error counter), with their Prometheus types. */
export const SPEC_FAMILIES: [string, MetricType][] = [
  ['matric_ws_connections_active', 'gauge'],
  ['matric_ws_events_sent_total', 'counter'],
  ['matric_webhook_deliveries_total', 'counter'],
  ['matric_event_latency_ms', 'histogram'],
  ['matric_sse_connections_active', 'gauge'],
  ['matric_events_published_total', 'counter'],
  ['matric_ws_slow_consumer_disconnects_total', 'counter'],
  ['matric_sse_events_lagged_total', 'counter'],
  ['matric_webhook_queue_depth', 'gauge'],
  ['matric_event_bus_errors_total', 'counter'],
]

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
  line: number
}

export interface Family {
  name: string
  type: MetricType
  help: string | undefined
  samples: Sample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const FLOAT = /^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)$/
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

export class ExpositionError extends Error {}

function fail(line: number, msg: string): never {
  throw new ExpositionError(`line ${line}: ${msg}`)
}

/** Go's strconv.ParseFloat subset Prometheus accepts for sample values. */
export function parseValue(raw: string, line: number): number {
  if (raw === 'NaN') return NaN
  if (raw === '+Inf' || raw === 'Inf') return Infinity
  if (raw === '-Inf') return -Infinity
  if (!FLOAT.test(raw)) fail(line, `invalid sample value ${JSON.stringify(raw)}`)
  return Number(raw)
}

/** Parses `{a="x",b="y\"z"}` starting at `i` (the `{`); returns the labels and the index after `}`. */
function parseLabels(s: string, i: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {}
  i++ // {
  for (;;) {
    if (s[i] === '}') return [labels, i + 1]
    const eq = s.indexOf('=', i)
    if (eq < 0) fail(line, 'label without "="')
    const name = s.slice(i, eq)
    if (!LABEL_NAME.test(name)) fail(line, `invalid label name ${JSON.stringify(name)}`)
    if (name.startsWith('__')) fail(line, `reserved label name ${name}`)
    if (name in labels) fail(line, `duplicate label ${name}`)
    i = eq + 1
    if (s[i] !== '"') fail(line, `label ${name}: value must be double-quoted`)
    i++
    let value = ''
    for (;;) {
      const c = s[i]
      if (c === undefined) fail(line, `label ${name}: unterminated value`)
      if (c === '"') break
      if (c === '\\') {
        const n = s[i + 1]
        if (n === '\\') value += '\\'
        else if (n === '"') value += '"'
        else if (n === 'n') value += '\n'
        else fail(line, `label ${name}: invalid escape \\${n ?? ''}`)
        i += 2
        continue
      }
      value += c
      i++
    }
    labels[name] = value
    i++ // closing quote
    if (s[i] === ',') i++
    else if (s[i] !== '}') fail(line, `expected "," or "}" after label ${name}`)
  }
}

/** The family a sample belongs to, given the declared TYPE of `base`. */
function familyOf(sampleName: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(sampleName)
  if (direct) return direct
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue
    const f = families.get(sampleName.slice(0, -suffix.length))
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f
  }
  return undefined
}

const seriesKey = (name: string, labels: Record<string, string>) =>
  name + '{' + Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',') + '}'

/** Parses and validates a whole exposition; throws ExpositionError naming the first problem. */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const closed = new Set<string>()
  const series = new Set<string>()
  let current: Family | undefined
  if (text.length && !text.endsWith('\n')) fail(text.split('\n').length, 'the exposition must end with a newline')
  const lines = text.split('\n')
  for (let n = 0; n < lines.length; n++) {
    const line = n + 1
    const l = lines[n]!
    if (l === '') continue
    if (l.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(l)
      if (!m) continue // a plain comment
      const [, kind, name, rest] = m
      if (!METRIC_NAME.test(name!)) fail(line, `invalid metric name ${JSON.stringify(name)}`)
      let f = families.get(name!)
      if (f && closed.has(name!)) fail(line, `${kind} for ${name} after its samples ended (families must be contiguous)`)
      if (!f) {
        f = { name: name!, type: 'untyped', help: undefined, samples: [] }
        families.set(name!, f)
      }
      if (current && current !== f) closed.add(current.name)
      current = f
      if (kind === 'HELP') {
        if (f.help !== undefined) fail(line, `second HELP for ${name}`)
        const help = rest ?? ''
        if (/\\(?![\\n])/.test(help)) fail(line, `HELP for ${name}: invalid escape`)
        f.help = help
      } else {
        if (!TYPES.has(rest as MetricType)) fail(line, `TYPE for ${name}: unknown type ${JSON.stringify(rest)}`)
        if (f.samples.length) fail(line, `TYPE for ${name} after its first sample`)
        if ((f as { typed?: boolean }).typed) fail(line, `second TYPE for ${name}`)
        ;(f as { typed?: boolean }).typed = true
        f.type = rest as MetricType
      }
      continue
    }
    const nameEnd = l.search(/[{ ]/)
    if (nameEnd <= 0) fail(line, `not a sample: ${JSON.stringify(l)}`)
    const name = l.slice(0, nameEnd)
    if (!METRIC_NAME.test(name)) fail(line, `invalid metric name ${JSON.stringify(name)}`)
    let labels: Record<string, string> = {}
    let i = nameEnd
    if (l[i] === '{') [labels, i] = parseLabels(l, i, line)
    if (l[i] !== ' ') fail(line, 'expected a space before the value')
    const parts = l.slice(i + 1).split(' ')
    if (parts.length < 1 || parts.length > 2 || parts[0] === '') fail(line, 'expected "value [timestamp]"')
    const value = parseValue(parts[0]!, line)
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) fail(line, `invalid timestamp ${JSON.stringify(parts[1])}`)
    const f = familyOf(name, families)
    if (!f || !(f as { typed?: boolean }).typed) fail(line, `sample ${name} has no preceding TYPE line`)
    if (closed.has(f.name) || (current && current !== f)) fail(line, `sample ${name} is not contiguous with its family ${f.name}`)
    if (f.type === 'counter' && (Number.isNaN(value) || value < 0)) fail(line, `counter ${name} has value ${parts[0]}`)
    if (f.type === 'histogram' && name === f.name) fail(line, `histogram ${f.name} has a bare sample (expected _bucket, _sum, _count)`)
    if (name.endsWith('_bucket') && f.type === 'histogram' && labels.le === undefined) fail(line, `${name} without le label`)
    const key = seriesKey(name, labels)
    if (series.has(key)) fail(line, `duplicate series ${key}`)
    series.add(key)
    f.samples.push({ name, labels, value, line })
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f)
  return families
}

/** Per label set: le ascending, cumulative counts non-decreasing, +Inf present and equal to _count, _sum present. */
function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: Sample[]; sum?: Sample; count?: Sample }>()
  for (const s of f.samples) {
    const { le, ...rest } = s.labels
    const key = seriesKey('', rest)
    let g = groups.get(key)
    if (!g) groups.set(key, (g = { buckets: [] }))
    if (s.name === f.name + '_bucket') {
      if (le === undefined) fail(s.line, 'bucket without le')
      g.buckets.push(s)
    } else if (s.name === f.name + '_sum') g.sum = s
    else if (s.name === f.name + '_count') g.count = s
  }
  for (const [key, g] of groups) {
    const where = `${f.name}${key}`
    if (!g.count) fail(0, `${where}: no _count`)
    if (!g.sum) fail(0, `${where}: no _sum`)
    if (!g.buckets.length) fail(0, `${where}: no buckets`)
    let prevLe = -Infinity
    let prevCount = 0
    for (const b of g.buckets) {
      const le = parseValue(b.labels.le!, b.line)
      if (!(le > prevLe)) fail(b.line, `${where}: le=${b.labels.le} not ascending`)
      if (b.value < prevCount) fail(b.line, `${where}: bucket count ${b.value} below the previous ${prevCount} (not cumulative)`)
      prevLe = le
      prevCount = b.value
    }
    const inf = g.buckets[g.buckets.length - 1]!
    if (inf.labels.le !== '+Inf') fail(inf.line, `${where}: last bucket is le=${inf.labels.le}, expected +Inf`)
    if (inf.value !== g.count.value) fail(inf.line, `${where}: +Inf bucket ${inf.value} != _count ${g.count.value}`)
  }
}

/** The value of one series (labels must match exactly), or undefined. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = seriesKey(name, labels)
  for (const f of families.values()) for (const s of f.samples) if (seriesKey(s.name, s.labels) === want) return s.value
  return undefined
}
