import { Elysia } from 'elysia'
import { buildAsyncApi, renderAsyncApi } from '../../events/asyncapi.ts'

type Format = 'json' | 'yaml'
const CONTENT_TYPE: Record<Format, string> = { json: 'application/json; charset=utf-8', yaml: 'application/yaml; charset=utf-8' }

// Rendered on first request, once per process (5–15 ms here): the catalog is constant, and building every
// app (the tests build hundreds) should not pay for a document nobody asks for.
let rendered: Record<Format, string> | undefined
function documentText(format: Format): string {
  if (!rendered) {
    const doc = buildAsyncApi()
    rendered = { json: renderAsyncApi('json', doc), yaml: renderAsyncApi('yaml', doc) }
  }
  return rendered[format]
}

/**
 * GET /asyncapi.json and /asyncapi.yaml: the AsyncAPI 3.0 document of the events (docs/asyncapi.md), the same bytes
 * as the committed asyncapi/asyncapi.{json,yaml}. Public like /openapi.json (the discovery document links it), and
 * left out of the OpenAPI document, which describes the REST API.
 */
export function asyncapiController() {
  const answer = (format: Format) => () => new Response(documentText(format), { headers: { 'content-type': CONTENT_TYPE[format], 'cache-control': 'no-cache' } })
  return new Elysia({ name: 'matric-asyncapi' })
    .get('/asyncapi.json', answer('json'), { detail: { hide: true } })
    .get('/asyncapi.yaml', answer('yaml'), { detail: { hide: true } })
}
