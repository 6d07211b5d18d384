/**
 * Validates upstream Fortemi event fixtures (EventEnvelope JSON files) against this server's AsyncAPI document:
 * `npm run check:fortemi-fixtures -- <dir>` prints PASS/FAIL per fixture of an event type this server emits (SKIP for
 * the others) and exits 1 when any fails. The fixtures are upstream's files and are not kept in this repository:
 * point it at a directory extracted from an upstream checkout (see docs/asyncapi.md).
 *
 * Also exports the validator the tests use: ajv (an implementation independent of TypeBox) over the document
 * itself, so what is checked is what is published.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { buildAsyncApi } from '../src/events/asyncapi.ts'
import { EVENT_TYPES } from '../src/events/catalog.ts'

type Json = Record<string, unknown>
interface Message {
  name: string
  payload: { $ref: string }
  headers?: unknown
  'x-sse-id'?: boolean
}

/** The event types this server emits (every catalog type); fixtures of other upstream types are skipped. */
export const EMITTED_EVENT_TYPES: readonly string[] = Object.values(EVENT_TYPES)

const DOC_ID = 'asyncapi'

export interface AsyncApiValidator {
  /** Problems of `value` against a component schema (`#/components/schemas/<name>`); empty = valid. */
  schema(name: string, value: unknown): string[]
  /** Problems of an SSE frame: the message of the events channel with this `event:` name and `id:` presence. */
  sse(event: string, hasId: boolean, data: unknown): string[]
  /** Problems of a WebSocket frame (a HotM message of the websocket channel, chosen by its `type`). */
  ws(frame: unknown): string[]
  /** Problems of a webhook request: headers (lower-case names) and body of the message for the body's `event_type`. */
  webhook(headers: Record<string, string>, body: unknown): string[]
}

export function createAsyncApiValidator(doc: Json = buildAsyncApi()): AsyncApiValidator {
  // Strict (unknown keywords in our schemas are errors); the document's own top-level fields are declared as
  // keywords so the whole document can be registered and `#/components/...` references resolve inside it.
  const ajv = new Ajv({ allErrors: true, strictTypes: false })
  addFormats(ajv)
  for (const k of Object.keys(doc)) ajv.addKeyword(k)
  ajv.addSchema(doc, DOC_ID)
  const compiled = new Map<string, ValidateFunction>()
  const check = (pointer: string, value: unknown): string[] => {
    let v = compiled.get(pointer)
    if (!v) {
      v = ajv.getSchema(DOC_ID + pointer)
      if (!v) return [`no schema at ${pointer}`]
      compiled.set(pointer, v)
    }
    return v(value) ? [] : formatErrors(v.errors)
  }
  const resolve = (pointer: string): unknown =>
    pointer
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((node, part) => (node as Json | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc)
  const channelMessages = (channel: string): [string, Message][] => {
    const refs = (resolve(`#/channels/${channel}/messages`) ?? {}) as Record<string, { $ref: string }>
    return Object.values(refs).map((r) => [r.$ref, resolve(r.$ref) as Message])
  }
  const payloadOf = (channel: string, pick: (m: Message) => boolean, what: string, value: unknown): string[] => {
    const found = channelMessages(channel).filter(([, m]) => pick(m))
    if (found.length !== 1) return [`${found.length} messages of channel ${channel} match ${what}`]
    return check(found[0]![1].payload.$ref, value)
  }
  return {
    schema: (name, value) => check(`#/components/schemas/${name}`, value),
    sse: (event, hasId, data) => payloadOf('events', (m) => m.name === event && m['x-sse-id'] === hasId, `event ${event} (${hasId ? 'with' : 'without'} id)`, data),
    ws: (frame) => {
      const type = (frame as Json | null)?.type
      return payloadOf('websocket', (m) => m.name === type && m.name !== 'refresh', `type ${JSON.stringify(type)}`, frame)
    },
    webhook: (headers, body) => {
      const eventType = (body as Json | null)?.event_type
      const found = channelMessages('webhooks').filter(([, m]) => m.name === eventType)
      if (found.length !== 1) return [`${found.length} webhook messages match event_type ${JSON.stringify(eventType)}`]
      const [ref, m] = found[0]!
      return [...check(`${ref}/headers`, headers).map((e) => `headers: ${e}`), ...check(m.payload.$ref, body).map((e) => `body: ${e}`)]
    },
  }
}

function formatErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}${e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : ''}`)
}

export interface FixtureResult {
  file: string
  eventType: string | null
  status: 'PASS' | 'FAIL' | 'SKIP'
  problems: string[]
}

/** The fixture files of `dir`: `*.json` in it, or in its `events/` folder (upstream's `fixtures/` layout). */
export function fixtureFiles(dir: string): string[] {
  const events = join(dir, 'events')
  const root = existsSync(events) && statSync(events).isDirectory() ? events : dir
  return readdirSync(root)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(root, f))
}

/** Each fixture validated as the SSE frame (`id:` + envelope) of its `event_type`; other upstream types are skipped. */
export function checkFixtures(files: readonly string[], v: AsyncApiValidator = createAsyncApiValidator()): FixtureResult[] {
  return files.map((file): FixtureResult => {
    let fixture: unknown
    try {
      fixture = JSON.parse(readFileSync(file, 'utf8'))
    } catch (err) {
      return { file, eventType: null, status: 'FAIL', problems: [`not JSON: ${(err as Error).message}`] }
    }
    const eventType = (fixture as Json | null)?.event_type
    if (typeof eventType !== 'string') return { file, eventType: null, status: 'SKIP', problems: ['no event_type (not an event fixture)'] }
    if (!EMITTED_EVENT_TYPES.includes(eventType)) return { file, eventType, status: 'SKIP', problems: ['an event type this server does not emit'] }
    const problems = v.sse(eventType, true, fixture)
    return { file, eventType, status: problems.length ? 'FAIL' : 'PASS', problems }
  })
}

if (import.meta.main) {
  const dir = process.argv[2]
  if (!dir || !existsSync(dir)) {
    console.error('usage: npm run check:fortemi-fixtures -- <dir>   (a folder of upstream event fixtures, e.g. contracts/asyncapi/fixtures/events)')
    process.exit(2)
  }
  const results = checkFixtures(fixtureFiles(dir))
  for (const r of results) {
    const name = r.file.slice(r.file.lastIndexOf('/') + 1)
    console.log(`${r.status} ${name}${r.eventType ? ` (${r.eventType})` : ''}${r.status === 'SKIP' ? ` — ${r.problems[0]}` : ''}`)
    if (r.status === 'FAIL') for (const p of r.problems) console.log(`     ${p}`)
  }
  const count = (s: FixtureResult['status']) => results.filter((r) => r.status === s).length
  const missing = EMITTED_EVENT_TYPES.filter((et) => !results.some((r) => r.eventType === et))
  console.log(`${count('PASS')} PASS, ${count('FAIL')} FAIL, ${count('SKIP')} SKIP`)
  if (missing.length) console.log(`no fixture for: ${missing.join(', ')}`)
  process.exit(count('FAIL') > 0 || count('PASS') === 0 ? 1 : 0)
}
