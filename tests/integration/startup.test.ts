/** README.md#configuration, README.md#authentication-and-tenancy at process level: config errors exit 2, the generated secret and admin token, `npm run token`. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { jwtVerify } from 'jose'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnServer, type ServerProcess } from '../helpers/process.ts'
import { waitFor } from '../helpers/wait.ts'

const ROOT = join(import.meta.dir, '..', '..')

/** Environment without any MATRIC_* or PORT the test runner may have. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('MATRIC_') && k !== 'PORT') env[k] = v
  return { ...env, ...extra }
}

/** Runs a command to its end; one still running after `timeoutMs` (a server that should have refused to start) is killed. */
async function run(args: string[], env: Record<string, string>, timeoutMs = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, ...args], { cwd: ROOT, env: cleanEnv(env), stdout: 'pipe', stderr: 'pipe' })
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  clearTimeout(timer)
  return { code, stdout, stderr }
}

const logLines = (p: ServerProcess) => p.lines.flatMap((l) => {
  try {
    return [JSON.parse(l) as Record<string, unknown>]
  } catch {
    return []
  }
})

const dirs: string[] = []
const procs: ServerProcess[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'matric-startup-'))
  dirs.push(d)
  return d
}
afterAll(async () => {
  for (const p of procs) if (p.proc.exitCode === null) await p.kill('SIGKILL')
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('configuration errors', () => {
  test('a bad value exits with code 2 and a clear message', async () => {
    const r = await run(['src/index.ts'], { PORT: 'abc', MATRIC_DATA_DIR: tempDir() })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('invalid configuration')
    expect(r.stderr).toContain('PORT="abc": expected an integer between 0 and 65535')
    expect(r.stdout).toBe('')
  })

  test('every problem is listed', async () => {
    const r = await run(['src/index.ts'], { PORT: '99999', MATRIC_AUTH: 'sometimes', MATRIC_DATA_DIR: tempDir() })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('PORT="99999"')
    expect(r.stderr).toContain('MATRIC_AUTH="sometimes": expected one of required, off')
  })
})

describe('MATRIC_AUTH=off is for local use', () => {
  test('with HOST=0.0.0.0 (the default) the server refuses to start: exit 2 and how to fix it', async () => {
    const r = await run(['src/index.ts'], { PORT: '0', HOST: '0.0.0.0', MATRIC_AUTH: 'off', MATRIC_DATA_DIR: tempDir() }, 8000)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('invalid configuration')
    expect(r.stderr).toContain('MATRIC_AUTH=off with HOST=0.0.0.0')
    expect(r.stderr).toContain('MATRIC_AUTH_OFF_ALLOW_REMOTE=true')
    expect(r.stdout).toBe('')
  })

  test('on a loopback HOST it starts; the listening line names the auth mode and a warning follows', async () => {
    const p = await spawnServer({ HOST: '127.0.0.1', MATRIC_AUTH: 'off', MATRIC_DATA_DIR: tempDir(), MATRIC_JWT_SECRET: 'x'.repeat(40) })
    procs.push(p)
    const recs = logLines(p)
    expect(recs.find((r) => r.msg === 'listening')).toMatchObject({ auth_mode: 'off', host: '127.0.0.1' })
    await waitFor(() => logLines(p).some((r) => r.level === 'warn' && String(r.msg).startsWith('MATRIC_AUTH=off')), 'the MATRIC_AUTH=off warning')
    expect((await p.request('/api/v1/jobs/stats')).status).toBe(200)
    expect(await p.kill('SIGTERM')).toBe(0)
  })
  // MATRIC_AUTH_OFF_ALLOW_REMOTE=true is covered by tests/unit/config.test.ts: a test must not serve
  // anonymous admin on every interface of this machine, even briefly.
})

describe('shutdown', () => {
  test('a SIGTERM as soon as `listening` is logged still shuts down cleanly (exit 0, store closed)', async () => {
    for (let i = 0; i < 3; i++) {
      const p = await spawnServer({ MATRIC_DATA_DIR: tempDir(), MATRIC_JWT_SECRET: 'x'.repeat(40) })
      procs.push(p)
      const code = await p.kill('SIGTERM') // spawnServer resolves on the listening line
      expect(code).toBe(0)
      await waitFor(() => p.lines.some((l) => l.includes('"shutting down"')), 'the shutting down line', 2000)
    }
  })
})

describe('JWKS without MATRIC_JWT_AUDIENCE / MATRIC_JWT_ISSUER', () => {
  test('starts, with a warning for each at start', async () => {
    const p = await spawnServer({ MATRIC_DATA_DIR: tempDir(), MATRIC_JWT_SECRET: 'x'.repeat(40), MATRIC_JWKS_URL: 'http://127.0.0.1:9/.well-known/jwks.json' })
    procs.push(p)
    await waitFor(() => logLines(p).filter((r) => r.level === 'warn' && /MATRIC_JWT_(AUDIENCE|ISSUER) is unset/.test(String(r.msg))).length === 2, 'two warnings')
    expect(logLines(p).find((r) => r.msg === 'listening')).toMatchObject({ auth_mode: 'required' })
    const code = await p.kill('SIGTERM')
    expect({ code, stderr: code ? p.stderr() + p.lines.join('\n') : '' }).toEqual({ code: 0, stderr: '' })
  })
})

describe('first start without MATRIC_JWT_SECRET', () => {
  let dir: string
  let first: ServerProcess
  let adminToken: string

  const tokenIn = (stderr: string) => /Local admin token[^\n]*\n\s*\n\s*(\S+)/.exec(stderr)?.[1]

  beforeAll(async () => {
    dir = tempDir()
    first = await spawnServer({ MATRIC_DATA_DIR: dir, MATRIC_JWT_SECRET: '' })
    procs.push(first)
    adminToken = await waitFor(() => tokenIn(first.stderr()), 'the admin token on stderr')
  })

  test('generates a secret file with mode 0600 in the data dir', () => {
    const path = join(dir, 'jwt-secret')
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(readFileSync(path, 'utf8').trim().length).toBeGreaterThanOrEqual(32)
    expect(first.stderr()).toContain(`generated a new JWT secret in ${path}`)
  })

  test('the printed admin token works against the API, on any memory', async () => {
    const h = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }
    expect((await fetch(`${first.url}/api/v1/jobs/stats`, { headers: h })).status).toBe(200)
    const note = await fetch(`${first.url}/api/v1/notes?memory=elsewhere`, { method: 'POST', headers: h, body: JSON.stringify({ content: 'hi' }) })
    expect(note.status).toBe(201)
    const publish = await fetch(`${first.url}/api/v1/events`, { method: 'POST', headers: h, body: JSON.stringify({ payload: { type: 'JobProgress', job_id: 'ext-1', progress: 10 } }) })
    expect(publish.status).toBe(202)
  })

  test('the token never reaches the JSON log', () => {
    expect(first.lines.join('\n')).not.toContain(adminToken)
  })

  test('npm run token prints a token with the right claims, signed with the stored secret', async () => {
    const r = await run(['scripts/token.ts', '--sub', 'alice', '--scope', 'read write', '--memory', 'default', '--tags', 'a,b', '--ttl', '60'], { MATRIC_DATA_DIR: dir })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const token = r.stdout.trim()
    const secret = new TextEncoder().encode(readFileSync(join(dir, 'jwt-secret'), 'utf8').trim())
    const { payload, protectedHeader } = await jwtVerify(token, secret, { algorithms: ['HS256'] })
    expect(protectedHeader.alg).toBe('HS256')
    expect(payload).toMatchObject({ sub: 'alice', scope: 'read write', memory: 'default', tags: ['a', 'b'] })
    expect(payload.exp! - payload.iat!).toBe(60)

    // …and the running server accepts it with those claims.
    const h = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const created = await fetch(`${first.url}/api/v1/notes`, { method: 'POST', headers: h, body: JSON.stringify({ content: 'tagged', tags: ['a'] }) })
    expect(created.status).toBe(201)
    const untagged = await fetch(`${first.url}/api/v1/notes`, { method: 'POST', headers: h, body: JSON.stringify({ content: 'untagged' }) })
    expect(untagged.status).toBe(403)
    expect((await fetch(`${first.url}/api/v1/notes?memory=other`, { headers: h })).status).toBe(403)
  })

  test('npm run token: multi-memory, no expiry, and MATRIC_JWT_SECRET when set', async () => {
    const secret = 'an-explicit-secret-that-is-long-enough-0123'
    const r = await run(['scripts/token.ts', '--sub', 'bob', '--scope', 'admin', '--memory', 'a,b', '--ttl', '0'], { MATRIC_DATA_DIR: dir, MATRIC_JWT_SECRET: secret })
    expect(r.code).toBe(0)
    const { payload } = await jwtVerify(r.stdout.trim(), new TextEncoder().encode(secret))
    expect(payload).toMatchObject({ sub: 'bob', scope: 'admin', memory: ['a', 'b'] })
    expect(payload.exp).toBeUndefined()
    expect(payload.tags).toBeUndefined()
  })

  test('npm run token signs with MATRIC_JWT_AUDIENCE / MATRIC_JWT_ISSUER when they are set', async () => {
    const r = await run(['scripts/token.ts', '--sub', 'carol', '--scope', 'read'], { MATRIC_DATA_DIR: dir, MATRIC_JWT_AUDIENCE: 'matric-api,second', MATRIC_JWT_ISSUER: 'https://idp.test/' })
    expect(r.code).toBe(0)
    const secret = new TextEncoder().encode(readFileSync(join(dir, 'jwt-secret'), 'utf8').trim())
    const { payload } = await jwtVerify(r.stdout.trim(), secret, { audience: 'matric-api', issuer: 'https://idp.test/' })
    expect(payload.sub).toBe('carol')
  })

  test.each([
    [['--ttl', '-5'], '--ttl'],
    [['--ttl', 'soon'], '--ttl'],
    [['--scope', 'root'], '--scope'],
    [['--memory', '../x'], '--memory'],
    [['--sub', ' '], '--sub'],
    [['--bogus'], "Unknown option '--bogus'"],
  ])('npm run token %j: exit 2 with a usage message', async (args, expected) => {
    const r = await run(['scripts/token.ts', ...args], { MATRIC_DATA_DIR: dir })
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(expected)
    expect(r.stderr).toContain('usage: npm run token')
  })

  test('the next start reuses the secret: the earlier token still works', async () => {
    const before = readFileSync(join(dir, 'jwt-secret'), 'utf8')
    expect(await first.kill('SIGTERM')).toBe(0)
    const second = await spawnServer({ MATRIC_DATA_DIR: dir, MATRIC_JWT_SECRET: '' })
    procs.push(second)
    await waitFor(() => tokenIn(second.stderr()), 'the admin token on the second start')
    expect(second.stderr()).toContain(`using the JWT secret in ${join(dir, 'jwt-secret')}`)
    expect(readFileSync(join(dir, 'jwt-secret'), 'utf8')).toBe(before)
    const res = await fetch(`${second.url}/api/v1/jobs/stats`, { headers: { authorization: `Bearer ${adminToken}` } })
    expect(res.status).toBe(200)
    expect(await second.kill('SIGTERM')).toBe(0)
  })
})
