/** The committed AsyncAPI document matches the event catalog, and the server serves exactly it (docs/asyncapi.md). */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startServer, type TestServer } from '../helpers/server.ts'

const ROOT = join(import.meta.dir, '..', '..')
const committed = (format: 'json' | 'yaml') => readFileSync(join(ROOT, 'asyncapi', `asyncapi.${format}`), 'utf8')

/** Rendered in a fresh process, exactly as `npm run asyncapi` does (nothing else in this test process can touch it). */
async function renderFresh(format: 'json' | 'yaml'): Promise<string> {
  const proc = Bun.spawn([process.execPath, join(ROOT, 'scripts', 'dump-asyncapi.ts'), '--stdout', format], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  if (code !== 0) throw new Error(`scripts/dump-asyncapi.ts failed (${code}): ${err}`)
  return out
}

describe('asyncapi/asyncapi.{json,yaml}', () => {
  for (const format of ['json', 'yaml'] as const)
    test(`asyncapi.${format} is up to date with the event catalog`, async () => {
      const fresh = await renderFresh(format)
      expect(fresh.length).toBeGreaterThan(1000)
      if (committed(format) !== fresh) throw new Error(`asyncapi/asyncapi.${format} is out of date with the event catalog: run \`npm run asyncapi\` and commit the result`)
    })
})

describe('served', () => {
  let s: TestServer
  beforeAll(async () => {
    s = await startServer()
  })
  afterAll(() => s.stop())

  test('GET /asyncapi.json is the committed document, without a token', async () => {
    const res = await fetch(`${s.url}/asyncapi.json`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(await res.text()).toBe(committed('json'))
  })

  test('GET /asyncapi.yaml is the committed YAML rendering', async () => {
    const res = await fetch(`${s.url}/asyncapi.yaml`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/yaml; charset=utf-8')
    expect(await res.text()).toBe(committed('yaml'))
  })

  test('the discovery document links it, and the OpenAPI document (REST only) leaves it out', async () => {
    const discovery = (await (await fetch(`${s.url}/api/v1/system/compatibility`)).json()) as { links: { asyncapi: string } }
    const linked = await fetch(new URL(discovery.links.asyncapi, s.url))
    expect(linked.status).toBe(200)
    expect(((await linked.json()) as { asyncapi: string }).asyncapi).toBe('3.0.0')
    const openapi = (await (await fetch(`${s.url}/openapi.json`)).json()) as { paths: Record<string, unknown> }
    expect(Object.keys(openapi.paths).filter((p) => p.startsWith('/asyncapi'))).toEqual([])
  })
})
