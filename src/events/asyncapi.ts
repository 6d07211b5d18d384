import type { TSchema } from '@sinclair/typebox'
import { t } from 'elysia'
import { JsonInt } from '../http/schemas.ts'
import { EVENTS_LAGGED, RESYNC_REQUIRED, type ResyncReason } from '../modules/realtime/sse-frames.ts'
import { SseQuery } from '../modules/realtime/sse.ts'
import { toYaml } from '../modules/asyncapi/yaml.ts'
import { VERSION } from '../version.ts'
import { Actor, Envelope, EVENT_TYPES, EventPayload, HOTM_TYPES, JobProgressInput, PAYLOAD_SCHEMAS, PublishablePayload, type LegacyType } from './catalog.ts'

/**
 * The AsyncAPI 3.0 document of this server's events (docs/asyncapi.md), built from the TypeBox event catalog so
 * that the document, the validation of external publishes and the types cannot drift apart. Pure and
 * deterministic: the same catalog gives the same bytes (objects in construction order, schema keywords in a fixed
 * order), which the committed `asyncapi/asyncapi.{json,yaml}` and their drift test rely on.
 *
 * The application described is matric-realtime itself, so in AsyncAPI terms it `send`s events (WebSocket frames,
 * SSE frames, webhook POSTs) and `receive`s the WebSocket `refresh` command.
 */

const LEGACY_TYPES = Object.keys(EVENT_TYPES) as LegacyType[]
const HOTM_ORDER = LEGACY_TYPES.filter((l) => HOTM_TYPES.has(l))

// Synthetic SSE frames (src/modules/realtime/sse-frames.ts). The reasons are checked against `ResyncReason` both
// ways, so a new reason cannot be emitted without being documented.
const RESYNC_REASONS = ['unknown_event_id', 'expired_event_id', 'replay_overtaken'] as const satisfies readonly ResyncReason[]
const allReasonsListed: Exclude<ResyncReason, (typeof RESYNC_REASONS)[number]> extends never ? true : false = true
void allReasonsListed

const ResyncRequiredData = t.Object(
  {
    reason: t.Union(
      RESYNC_REASONS.map((r) => t.Literal(r)),
      { description: '`unknown_event_id`: never logged here; `expired_event_id`: pruned by retention; `replay_overtaken`: retention pruned events a slow replay had not reached' },
    ),
    last_known_id: t.String({ description: 'the id the client resumed from (or, for `replay_overtaken`, the last event this stream delivered; empty when none)' }),
  },
  { additionalProperties: false, description: 'The resume point cannot be honoured: refetch state through REST, then carry on with the live events that follow.' },
)
const EventsLaggedData = t.Object(
  { dropped_count: JsonInt({ minimum: 1, description: 'live events dropped because the client read too slowly' }) },
  { additionalProperties: false, description: 'The dropped events are the ones right after the last `id:` received: resume from it to fetch them from the log.' },
)
const RefreshCommand = t.Literal('refresh', { description: 'The text `refresh` (surrounding whitespace tolerated): answered with a QueueStatus to this client only.' })

/** One value, or several space-separated (during a secret rotation). */
const repeated = (value: string) => `^${value}( ${value})*$`
/** Every header of a webhook delivery (src/modules/webhooks/headers.ts), names in lower case (HTTP header names are case-insensitive). */
const WebhookHeaders = t.Object(
  {
    'content-type': t.Literal('application/json'),
    'user-agent': t.String({ pattern: '^matric-realtime/', description: '`matric-realtime/<version>`' }),
    'x-matric-event': t.Union(
      LEGACY_TYPES.map((l) => t.Literal(l)),
      { description: 'the payload `type` (legacy name) of the delivered event' },
    ),
    'x-matric-delivery': t.String({ minLength: 1, description: 'delivery id, stable across retries (dedupe on it)' }),
    'x-matric-signature': t.String({
      pattern: repeated('sha256=[0-9a-f]{64}'),
      description: '`sha256=<hex HMAC-SHA256(key = secret as UTF-8, message = exact body)>`; two space-separated values during a secret rotation, newest first',
    }),
    'webhook-id': t.String({ minLength: 1, description: 'Standard Webhooks id, = `x-matric-delivery`' }),
    'webhook-timestamp': t.String({ pattern: '^[0-9]+$', description: 'unix seconds of this attempt' }),
    'webhook-signature': t.String({
      pattern: repeated('v1,[A-Za-z0-9+/]+={0,2}'),
      description: '`v1,<base64 HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>">`, key = the base64-decoded part after `whsec_` (else the secret\'s UTF-8 bytes); space-separated during a rotation',
    }),
    traceparent: t.Optional(t.String({ description: 'W3C trace context of the publishing trace, when known' })),
  },
  { additionalProperties: true, description: 'Headers of a webhook POST (see docs/webhooks.md). Verify a signature before trusting the body.' },
)

const WsQuery = t.Object({
  token: t.Optional(t.String({ description: 'A JWT when headers are impossible (browsers); prefer a short-lived stream token from POST /api/v1/events/tokens.' })),
  memory: t.Optional(t.String({ description: 'Memory to follow (or the `X-Matric-Memory` / `X-Fortemi-Memory` header); default: the token\'s only memory, else `default`.' })),
})
const StreamHeaders = t.Object({
  authorization: t.Optional(t.String({ description: '`Bearer <jwt>`' })),
  'x-matric-memory': t.Optional(t.String({ description: 'memory to follow' })),
  'x-fortemi-memory': t.Optional(t.String({ description: 'alias of `x-matric-memory` (sent by HotM); `x-matric-memory` wins when both are sent' })),
})
const WsHeaders = t.Object({
  ...StreamHeaders.properties,
  'sec-websocket-protocol': t.Optional(t.String({ description: '`bearer, <jwt>`: the token as a subprotocol (the server answers with `bearer`)' })),
})
const SseHeaders = t.Object({
  ...StreamHeaders.properties,
  'last-event-id': t.Optional(t.String({ description: 'resume after this event id (or opening-frame cursor); wins over `?last_event_id=`' })),
})

/** `<Legacy>Envelope`: the catalog Envelope with `event_type` and `payload` fixed to one event type. */
function envelopeOf(legacy: LegacyType): TSchema {
  const eventType = EVENT_TYPES[legacy]
  return t.Object(
    {
      ...Envelope.properties,
      event_type: t.Literal(eventType),
      payload: PAYLOAD_SCHEMAS[legacy],
    },
    { additionalProperties: false, description: `Envelope of a \`${eventType}\` event (payload \`${legacy}\`).` },
  )
}

/** `<Legacy>Frame`: a HotM WebSocket frame, the bare payload plus the envelope's `event_id`. */
function frameOf(legacy: LegacyType): TSchema {
  const payload = PAYLOAD_SCHEMAS[legacy] as TSchema & { properties: Record<string, TSchema> }
  return t.Object(
    {
      ...payload.properties,
      event_id: t.Optional(
        t.String({ description: "the envelope's `event_id` (de-duplicate against SSE); absent on the QueueStatus that answers `refresh`" }),
      ),
    },
    { additionalProperties: false, description: `HotM frame \`${legacy}\`: the bare payload object, \`type\` first, then \`event_id\`.` },
  )
}

const SCHEMA_REF = '#/components/schemas/'
const MESSAGE_REF = '#/components/messages/'

/** Keywords in the order a reader expects them; any other keyword follows, in TypeBox's order. */
const KEYWORD_ORDER = [
  '$ref', 'title', 'description', 'type', 'const', 'enum', 'format', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum',
  'items', 'maxItems', 'required', 'properties', 'additionalProperties', 'anyOf', 'allOf', 'oneOf', 'examples',
]
const rank = (k: string) => {
  const i = KEYWORD_ORDER.indexOf(k)
  return i < 0 ? KEYWORD_ORDER.length : i
}
/** Keywords whose value is a schema, a list of schemas, or a map of name → schema; every other value is data. */
const SUBSCHEMA = new Set(['items', 'additionalProperties', 'not'])
const SUBSCHEMA_LISTS = new Set(['anyOf', 'allOf', 'oneOf'])

/**
 * A TypeBox schema as plain JSON Schema. TypeBox schemas are JSON Schema already: serialising drops their symbols
 * (Kind, Optional); `$id`s are dropped too (Elysia's `.model()` stamps them on what it registers); a sub-schema that
 * is a named component becomes a `$ref` to it (TypeBox composes schemas by identity); keywords are put in a fixed
 * order. Data (`examples`, `const`, `enum`, `default`) is copied as it is.
 */
function toJson(schema: unknown, refs: ReadonlyMap<object, string>, top = true): unknown {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return schema
  const name = top ? undefined : refs.get(schema)
  if (name !== undefined) return { $ref: SCHEMA_REF + name }
  const sub = (s: unknown) => toJson(s, refs, false)
  const out: Record<string, unknown> = {}
  const keys = Object.keys(schema)
    .filter((k) => k !== '$id' && (schema as Record<string, unknown>)[k] !== undefined)
    .sort((a, b) => rank(a) - rank(b)) // stable: unranked keywords keep their order
  for (const k of keys) {
    const v = (schema as Record<string, unknown>)[k]
    if (k === 'properties') out[k] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([p, s]) => [p, sub(s)]))
    else if (SUBSCHEMA.has(k) && typeof v === 'object') out[k] = sub(v)
    else if (SUBSCHEMA_LISTS.has(k) && Array.isArray(v)) out[k] = v.map(sub)
    else out[k] = structuredClone(v)
  }
  return out
}

const ref = (r: string) => ({ $ref: r })

const SSE_DESCRIPTION = `Server-Sent Events (docs/sse.md). The stream starts with a \`retry:\` hint, then (after any replay) one \`queue.status\` frame without an \`id:\` line, then one frame per event:

\`\`\`
id: <event_id>
event: <event_type>
data: <envelope JSON>
\`\`\`

A comment \`: keepalive\` arrives at least every 15 s. Resume with \`Last-Event-ID\` (or \`?last_event_id=\`): replay from the durable event log, then live, without a gap or a duplicate. Synthetic frames (\`resync_required\`, \`events.lagged\`, the opening \`queue.status\`) carry no \`id:\` line. \`GET /api/v1/events/stream\` is an alias.`

const WS_DESCRIPTION = `The HotM protocol (docs/websocket.md): text frames, each one bare payload object of the seven HotM types, \`type\` first, plus \`event_id\`. No envelope and no other type is ever sent; \`note.created\` goes out as \`NoteUpdated\`, \`note.deleted\` is not sent. Delivery is live-only and at-most-once (replay: use SSE). The only client command is the text \`refresh\`; frames over 4 KiB close the socket with 1009. Close codes: 1008 token expired, 1012 server shutdown, 1013 slow consumer.`

const WEBHOOK_DESCRIPTION = `Webhook deliveries (docs/webhooks.md): each event selected by a webhook (POST /api/v1/webhooks) is POSTed to its \`url\`; the body is the envelope, byte for byte as on SSE. Success is any 2xx; network errors, timeouts, 408, 429 and 5xx are retried with backoff; delivery is at-least-once (dedupe on \`webhook-id\`).`

/** The AsyncAPI 3.0.0 document (a JSON object). */
export function buildAsyncApi(): Record<string, unknown> {
  const schemas = new Map<string, TSchema>()
  schemas.set('Envelope', Envelope)
  schemas.set('Actor', Actor)
  schemas.set('EventPayload', EventPayload)
  for (const l of LEGACY_TYPES) schemas.set(`${l}Payload`, PAYLOAD_SCHEMAS[l])
  schemas.set('JobProgressInput', JobProgressInput)
  schemas.set('PublishablePayload', PublishablePayload)
  for (const l of LEGACY_TYPES) schemas.set(`${l}Envelope`, envelopeOf(l))
  for (const l of HOTM_ORDER) schemas.set(`${l}Frame`, frameOf(l))
  schemas.set('RefreshCommand', RefreshCommand)
  schemas.set('ResyncRequired', ResyncRequiredData)
  schemas.set('EventsLagged', EventsLaggedData)
  schemas.set('WebhookHeaders', WebhookHeaders)
  const refs = new Map<object, string>([...schemas].map(([name, s]) => [s, name]))
  const componentSchemas = Object.fromEntries([...schemas].map(([name, s]) => [name, toJson(s, refs)]))

  const json = { contentType: 'application/json' }
  const messages: Record<string, unknown> = {}
  const wsMessages: Record<string, unknown> = {}
  const sseMessages: Record<string, unknown> = {}
  const webhookMessages: Record<string, unknown> = {}

  for (const l of HOTM_ORDER) {
    messages[`Ws${l}`] = {
      name: l,
      title: `${l} (WebSocket)`,
      summary: `HotM frame \`${l}\`${l === 'NoteUpdated' ? ' (also sent for a newly created note)' : ''}`,
      ...json,
      payload: ref(`${SCHEMA_REF}${l}Frame`),
    }
    wsMessages[l] = ref(`${MESSAGE_REF}Ws${l}`)
  }
  messages.WsRefresh = {
    name: 'refresh',
    title: 'refresh (client command)',
    summary: 'Asks for a QueueStatus to this client only; anything else a client sends is ignored',
    contentType: 'text/plain',
    payload: ref(`${SCHEMA_REF}RefreshCommand`),
  }
  wsMessages.refresh = ref(`${MESSAGE_REF}WsRefresh`)

  for (const l of LEGACY_TYPES) {
    const eventType = EVENT_TYPES[l]
    messages[`Sse${l}`] = {
      name: eventType,
      title: `${eventType} (SSE)`,
      summary: `\`event: ${eventType}\` with \`id: <event_id>\`; \`data:\` is the envelope`,
      ...json,
      payload: ref(`${SCHEMA_REF}${l}Envelope`),
      'x-sse-event': eventType,
      'x-sse-id': true,
    }
    sseMessages[l] = ref(`${MESSAGE_REF}Sse${l}`)
  }
  messages.SseOpeningQueueStatus = {
    name: 'queue.status',
    title: 'opening queue.status (SSE)',
    summary: 'Sent once per stream, after `retry:` and any replay: the counts this stream may see, so counters are right before the first job event',
    description:
      'No `id:` line (it is not a logged event). Its envelope `event_id` is a cursor (UUID-shaped) naming the event-log position: resuming from it (`Last-Event-ID` or `?last_event_id=`) misses nothing and repeats nothing. Not sent when the stream filters by `entity_id` or its `types` exclude `queue.status`.',
    ...json,
    payload: ref(`${SCHEMA_REF}QueueStatusEnvelope`),
    'x-sse-event': 'queue.status',
    'x-sse-id': false,
  }
  sseMessages.OpeningQueueStatus = ref(`${MESSAGE_REF}SseOpeningQueueStatus`)
  messages.SseResyncRequired = {
    name: RESYNC_REQUIRED,
    title: `${RESYNC_REQUIRED} (SSE, synthetic)`,
    summary: 'The resume id cannot be honoured; live events follow',
    ...json,
    payload: ref(`${SCHEMA_REF}ResyncRequired`),
    'x-sse-event': RESYNC_REQUIRED,
    'x-sse-id': false,
  }
  sseMessages.ResyncRequired = ref(`${MESSAGE_REF}SseResyncRequired`)
  messages.SseEventsLagged = {
    name: EVENTS_LAGGED,
    title: `${EVENTS_LAGGED} (SSE, synthetic)`,
    summary: 'The client read too slowly and this many events were dropped; the stream continues',
    ...json,
    payload: ref(`${SCHEMA_REF}EventsLagged`),
    'x-sse-event': EVENTS_LAGGED,
    'x-sse-id': false,
  }
  sseMessages.EventsLagged = ref(`${MESSAGE_REF}SseEventsLagged`)

  for (const l of LEGACY_TYPES) {
    const eventType = EVENT_TYPES[l]
    messages[`Webhook${l}`] = {
      name: eventType,
      title: `${eventType} (webhook)`,
      summary: `POST of a \`${eventType}\` envelope with \`x-matric-event: ${l}\``,
      ...json,
      headers: { allOf: [ref(`${SCHEMA_REF}WebhookHeaders`), { type: 'object', properties: { 'x-matric-event': { const: l } } }] },
      payload: ref(`${SCHEMA_REF}${l}Envelope`),
    }
    webhookMessages[l] = ref(`${MESSAGE_REF}Webhook${l}`)
  }

  const opMessages = (channel: string, keys: string[]) => keys.map((k) => ref(`#/channels/${channel}/messages/${k}`))
  const streamSecurity = ['bearer', 'queryToken', 'cookie'].map((s) => ref(`#/components/securitySchemes/${s}`))
  const hostVariable = { host: { default: 'localhost:3000', description: 'host and port this server is reached on' } }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'matric-realtime',
      version: VERSION,
      description:
        'Events of the matric-memory notes and jobs API, generated from the event catalog (`npm run asyncapi`, see docs/asyncapi.md). ' +
        'The same events reach browsers over the WebSocket (`/api/v1/ws`, HotM protocol, bare payloads), AI and MCP clients over ' +
        'Server-Sent Events (`/api/v1/events`, envelopes with replay) and integrators over signed webhooks (envelopes). ' +
        'Within a memory every transport delivers events in the order they were emitted; a receiver only gets events of memories ' +
        '(and, with a tag-restricted token, notes) it may read through REST. Optional fields are omitted when absent, never null. ' +
        'Publishing (`POST /api/v1/events`, body `{memory?, payload}` with a `PublishablePayload`) is REST, described in the OpenAPI document (`/openapi.json`).',
    },
    defaultContentType: 'application/json',
    servers: {
      ws: {
        host: '{host}',
        protocol: 'ws',
        description: 'This server\'s WebSocket endpoint (`wss` behind TLS).',
        variables: hostVariable,
        security: [...streamSecurity, ref('#/components/securitySchemes/websocketProtocol')],
      },
      http: {
        host: '{host}',
        protocol: 'http',
        description: 'This server over HTTP (`https` behind TLS), for Server-Sent Events.',
        variables: hostVariable,
        security: streamSecurity,
      },
      webhookReceiver: {
        host: '{receiver}',
        protocol: 'https',
        description: 'Your endpoint: the `url` of a webhook (`http` is allowed too). Verify `x-matric-signature` or `webhook-signature` before trusting a body.',
        variables: { receiver: { description: 'host (and port) of the registered webhook URL' } },
      },
    },
    channels: {
      websocket: {
        address: '/api/v1/ws',
        title: 'HotM WebSocket',
        description: WS_DESCRIPTION,
        servers: [ref('#/servers/ws')],
        messages: wsMessages,
        bindings: { ws: { method: 'GET', query: toJson(WsQuery, refs), headers: toJson(WsHeaders, refs), bindingVersion: '0.1.0' } },
      },
      events: {
        address: '/api/v1/events',
        title: 'Server-Sent Events',
        description: SSE_DESCRIPTION,
        servers: [ref('#/servers/http')],
        messages: sseMessages,
      },
      webhooks: {
        address: null,
        title: 'Webhook deliveries',
        description: WEBHOOK_DESCRIPTION,
        servers: [ref('#/servers/webhookReceiver')],
        messages: webhookMessages,
      },
    },
    operations: {
      sendHotmFrames: {
        action: 'send',
        channel: ref('#/channels/websocket'),
        title: 'HotM frames',
        summary: 'Live job and note frames of the connection\'s memory',
        messages: opMessages('websocket', HOTM_ORDER),
      },
      receiveRefresh: {
        action: 'receive',
        channel: ref('#/channels/websocket'),
        title: 'refresh',
        summary: 'The client asks for the current queue counts',
        messages: opMessages('websocket', ['refresh']),
        reply: { channel: ref('#/channels/websocket'), messages: opMessages('websocket', ['QueueStatus']) },
      },
      sendEvents: {
        action: 'send',
        channel: ref('#/channels/events'),
        title: 'Event stream',
        summary: 'Envelopes of the stream\'s memory, filtered by `types` and `entity_id`, with replay',
        messages: opMessages('events', Object.keys(sseMessages)),
        bindings: { http: { method: 'GET', query: toJson(t.Object(SseQuery.properties), refs), bindingVersion: '0.3.0' } },
        'x-request-headers': toJson(SseHeaders, refs),
      },
      sendWebhookDeliveries: {
        action: 'send',
        channel: ref('#/channels/webhooks'),
        title: 'Webhook deliveries',
        summary: 'Signed POSTs of the events a webhook selected',
        messages: opMessages('webhooks', LEGACY_TYPES),
        bindings: { http: { method: 'POST', bindingVersion: '0.3.0' } },
      },
    },
    components: {
      schemas: componentSchemas,
      messages,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: '`Authorization: Bearer <jwt>` (read scope)' },
        queryToken: {
          type: 'httpApiKey',
          name: 'token',
          in: 'query',
          description: '`?token=<jwt>` for clients that cannot set headers; use a short-lived stream token (POST /api/v1/events/tokens), since URLs end up in logs',
        },
        cookie: { type: 'httpApiKey', name: 'matric_token', in: 'cookie', description: 'the `matric_token` cookie' },
        websocketProtocol: {
          type: 'httpApiKey',
          name: 'sec-websocket-protocol',
          in: 'header',
          description: '`Sec-WebSocket-Protocol: bearer, <jwt>` (WebSocket only; the server answers with the `bearer` subprotocol)',
        },
      },
    },
  }
}

/** The document as committed and served: `json` pretty-printed, `yaml` the same JSON as YAML; newline-terminated. */
export function renderAsyncApi(format: 'json' | 'yaml', doc: Record<string, unknown> = buildAsyncApi()): string {
  return format === 'json' ? JSON.stringify(doc, null, 2) + '\n' : toYaml(doc)
}
