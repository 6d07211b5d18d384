/** The committed OpenAPI document matches the routes; the API reference works offline. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { renderOpenApi } from '../../src/openapi.ts'
import { startServer, type TestServer } from '../helpers/server.ts'

const ROOT = join(import.meta.dir, '..', '..')
const COMMITTED = join(ROOT, 'openapi', 'openapi.json')

interface Doc {
  openapi: string
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> }; responses?: Record<string, { content?: Record<string, { schema: unknown }> }> }>>
  components: { schemas: Record<string, { type?: string; properties?: Record<string, unknown> }>; securitySchemes?: Record<string, unknown> }
}

/**
 * Rendered in a fresh process, exactly as `npm run openapi` does: Elysia mutates shared schema objects
 * as routes handle requests, so a render inside this (shared) test process may see other files' history.
 */
let clean: string
/** Rendered in this process, for comparison with what a server in this process serves. */
let rendered: string
beforeAll(async () => {
  const proc = Bun.spawn([process.execPath, join(ROOT, 'scripts', 'dump-openapi.ts'), '--stdout'], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  if (code !== 0) throw new Error(`scripts/dump-openapi.ts failed (${code}): ${err}`)
  clean = out
  const dir = mkdtempSync(join(tmpdir(), 'matric-openapi-test-'))
  try {
    rendered = await renderOpenApi(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

describe('openapi/openapi.json', () => {
  test('is up to date with the route schemas', () => {
    const committed = readFileSync(COMMITTED, 'utf8')
    if (committed !== clean) {
      throw new Error('openapi/openapi.json is out of date with the route schemas: run `npm run openapi` and commit the result')
    }
  })

  test('has named component schemas and uses them', () => {
    const doc = JSON.parse(clean) as Doc
    expect(doc.openapi).toStartWith('3.')
    for (const name of ['Note', 'NoteList', 'CreateNote', 'PatchNote', 'PutTags', 'Job', 'JobList', 'JobStats', 'CreateJob', 'ErrorBody']) {
      expect(doc.components.schemas[name]).toBeDefined()
    }
    expect(Object.keys(doc.components.schemas.Note!.properties!).sort()).toEqual(
      ['id', 'memory', 'title', 'content', 'tags', 'has_ai_content', 'has_links', 'links', 'created_at', 'updated_at'].sort(),
    )
    expect(Object.keys(doc.components.schemas.JobStats!.properties!).sort()).toEqual(
      ['completed', 'failed', 'pending', 'running', 'total_jobs', 'processing', 'completed_last_hour', 'failed_last_hour', 'total'].sort(),
    )
    expect(doc.components.securitySchemes).toHaveProperty('bearer')

    const create = doc.paths['/api/v1/notes']!.post!
    expect(Object.keys(create.requestBody!.content)).toEqual(['application/json'])
    expect(JSON.stringify(create.requestBody)).toContain('#/components/schemas/CreateNote')
    expect(JSON.stringify(create.responses!['201'])).toContain('Note')
    expect(JSON.stringify(create.responses!['401'])).toContain('ErrorBody')
    for (const [path, method] of [
      ['/api/v1/notes', 'get'],
      ['/api/v1/notes/{id}', 'get'],
      ['/api/v1/notes/{id}', 'patch'],
      ['/api/v1/notes/{id}', 'delete'],
      ['/api/v1/notes/{id}/tags', 'put'],
      ['/api/v1/jobs', 'post'],
      ['/api/v1/jobs', 'get'],
      ['/api/v1/jobs/stats', 'get'],
      ['/api/v1/jobs/{id}', 'get'],
      ['/health', 'get'],
    ] as const) {
      expect(doc.paths[path]?.[method]).toBeDefined()
    }
  })
})

describe('served documentation', () => {
  let s: TestServer
  beforeAll(async () => {
    s = await startServer()
  })
  afterAll(() => s.stop())

  test('GET /openapi.json serves the same document', async () => {
    const res = await s.request('/openapi.json')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('application/json')
    expect(JSON.stringify(await res.json(), null, 2) + '\n').toBe(rendered)
  })

  test('GET /docs is an HTML page whose scripts, stylesheets and spec are served by the app (works offline)', async () => {
    const res = await s.request('/docs')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/html')
    const html = await res.text()
    const refs = [...html.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
    expect(refs.length).toBeGreaterThanOrEqual(2)
    // No external URL anywhere in the page (no CDN, no fonts, no analytics).
    expect(html).not.toMatch(/(?:src|href|url)\s*[=:]\s*["']?(?:https?:)?\/\//i)
    const base = `${s.url}/docs`
    const types: string[] = []
    for (const ref of refs) {
      const url = new URL(ref, base)
      expect(url.origin).toBe(s.url)
      const asset = await fetch(url)
      expect(asset.status).toBe(200)
      types.push(asset.headers.get('content-type') ?? '')
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(1000)
    }
    expect(types.some((t) => t.includes('javascript'))).toBe(true)
    expect(types.some((t) => t.includes('text/css'))).toBe(true)
    // The spec the UI loads resolves to the app's own /openapi.json.
    const specUrl = /"url":"([^"]+)"/.exec(html)?.[1]
    expect(specUrl).toBeDefined()
    const spec = await fetch(new URL(specUrl!, base))
    expect(spec.status).toBe(200)
    expect(((await spec.json()) as Doc).components.schemas.Note).toBeDefined()
  })

  test('asset requests cannot escape the asset folder', async () => {
    for (const p of ['/docs/assets/..%2Fpackage.json', '/docs/assets/..%2F..%2Fpackage.json', '/docs/assets/index.html', '/docs/assets/%2Fetc%2Fpasswd']) {
      const res = await s.request(p)
      expect(res.status).toBe(404)
      expect(((await res.json()) as { error: string }).error).toBe('not_found')
    }
  })
})
