import { Elysia } from 'elysia'
import { buildAsyncApi, renderAsyncApi } from '../../events/asyncapi.ts'

/**
 * GET /asyncapi.json and /asyncapi.yaml: the AsyncAPI 3.0 document of the events (docs/asyncapi.md), the same bytes
 * as the committed asyncapi/asyncapi.{json,yaml}. Public like /openapi.json (the discovery document links it), and
 * left out of the OpenAPI document, which describes the REST API.
 */
export function asyncapiController() {
  const doc = buildAsyncApi()
  const json = renderAsyncApi('json', doc)
  const yaml = renderAsyncApi('yaml', doc)
  const answer = (body: string, type: string) => () => new Response(body, { headers: { 'content-type': type, 'cache-control': 'no-cache' } })
  return new Elysia({ name: 'matric-asyncapi' })
    .get('/asyncapi.json', answer(json, 'application/json; charset=utf-8'), { detail: { hide: true } })
    .get('/asyncapi.yaml', answer(yaml, 'application/yaml; charset=utf-8'), { detail: { hide: true } })
}
