import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { signToken } from '../../src/auth/sign.ts'
import { createTestDatabase } from '../../tests/helpers/pg-admin.ts'
import type { Target, TargetKind } from './spec.ts'

/** Starting and stopping the servers under test, each as its own child process. */

export const ROOT = join(import.meta.dir, '..', '..')

export interface Running {
  target: Target
  /** Last lines of the server's output, for error reports. */
  output(): string
  stop(): Promise<void>
}

export interface StartOptions {
  /** Extra environment for our server (knob variants). */
  env?: Record<string, string>
  /** Run ours under `bun --cpu-prof-md` and write the profile here on exit. */
  profileDir?: string
  /** Token lifetime (the soak may run for hours). */
  tokenTtlS?: number
  /** Run ours with `bun --smol` (smaller heap, more frequent GC). */
  smol?: boolean
}

/** sha256 (12 hex) of every file under src/, in path order: which code a server process loaded. */
export function srcFingerprint(): string {
  const h = new Bun.CryptoHasher('sha256')
  const files = [...new Bun.Glob('**/*').scanSync({ cwd: join(ROOT, 'src'), onlyFiles: true })].sort()
  for (const f of files) h.update(f).update(readFileSync(join(ROOT, 'src', f)))
  return h.digest('hex').slice(0, 12)
}

/** A port that was free a moment ago (the service logs its port only at info level; the bench runs it at warn). */
export function freePort(): number {
  const l = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = l.port
  l.stop(true)
  return port
}

/** Keeps a bounded tail of a child's output and never lets its pipe fill up (a full pipe blocks the child). */
function drain(stream: ReadableStream<Uint8Array>, keep: string[], onLine?: (line: string) => void): void {
  void (async () => {
    const decoder = new TextDecoder()
    let carry = ''
    for await (const chunk of stream) {
      const parts = (carry + decoder.decode(chunk, { stream: true })).split('\n')
      carry = parts.pop() ?? ''
      for (const line of parts) {
        onLine?.(line)
        keep.push(line)
        if (keep.length > 200) keep.shift()
      }
    }
  })().catch(() => {})
}

async function waitHealthy(http: string, exited: () => boolean, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs
  while (performance.now() < end) {
    if (exited()) throw new Error('server exited during start')
    try {
      if ((await fetch(`${http}/health`)).status === 200) return
    } catch {}
    await Bun.sleep(50)
  }
  throw new Error(`server not healthy within ${timeoutMs} ms`)
}

async function stopProcess(proc: ReturnType<typeof Bun.spawn>, graceMs = 8000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  proc.kill('SIGTERM')
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
  await proc.exited
  clearTimeout(timer)
}

/** The service itself: `bun src/index.ts` with a temp data dir and a known secret, at warn level. */
export async function startOurs(opts: StartOptions = {}): Promise<Running> {
  const port = freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'matric-bench-'))
  const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex')
  const profile = opts.profileDir ? (mkdirSync(opts.profileDir, { recursive: true }), ['--cpu-prof-md', `--cpu-prof-dir=${opts.profileDir}`]) : []
  const proc = Bun.spawn([process.execPath, ...(opts.smol ? ['--smol'] : []), ...profile, join(ROOT, 'src', 'index.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      MATRIC_DATA_DIR: dataDir,
      MATRIC_JWT_SECRET: secret,
      MATRIC_LOG_LEVEL: 'warn',
      MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true',
      MATRIC_WEBHOOK_RETRY_SCHEDULE_MS: '50,100,200',
      ...opts.env,
    },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const out: string[] = []
  let listenedOn: number | undefined
  drain(proc.stdout as ReadableStream<Uint8Array>, out, (line) => {
    // Honour the `listening` line when the log level lets it through (it is info).
    if (line.includes('"listening"')) {
      try {
        listenedOn = (JSON.parse(line) as { port?: number }).port
      } catch {}
    }
  })
  drain(proc.stderr as ReadableStream<Uint8Array>, out)
  const http = `http://127.0.0.1:${port}`
  try {
    await waitHealthy(http, () => proc.exitCode !== null, 20_000)
  } catch (e) {
    await stopProcess(proc)
    rmSync(dataDir, { recursive: true, force: true })
    throw new Error(`matric-realtime did not start: ${(e as Error).message}\n${out.slice(-20).join('\n')}`)
  }
  if (listenedOn !== undefined && listenedOn !== port) throw new Error(`server logged port ${listenedOn}, expected ${port}`)

  const key = new TextEncoder().encode(secret)
  const ttlS = opts.tokenTtlS ?? 7200
  const read = await signToken(key, { sub: 'bench-reader', scope: 'read', memory: 'default', ttlS })
  const admin = await signToken(key, { sub: 'bench-admin', scope: 'admin', memory: '*', ttlS })
  const mix = [
    { token: await signToken(key, { sub: 'soak-plain', scope: 'read', memory: 'default', ttlS }), memory: 'default' },
    { token: await signToken(key, { sub: 'soak-tag-a', scope: 'read', memory: 'default', tags: ['soak-a'], ttlS }), memory: 'default' },
    { token: await signToken(key, { sub: 'soak-other', scope: 'read', memory: ['soak-b', 'default'], ttlS }), memory: 'soak-b' },
    { token: await signToken(key, { sub: 'soak-tag-ab', scope: 'read', memory: 'default', tags: ['soak-b', 'soak-a'], ttlS }), memory: 'default' },
  ]
  const sseUrl = (await probeSse(http, read)) ? `${http}/api/v1/events` : undefined
  return {
    target: { kind: 'ours', pid: proc.pid, http, wsUrl: `ws://127.0.0.1:${port}/api/v1/ws`, sseUrl, tokens: { read, admin, mix, secret } },
    output: () => out.join('\n'),
    stop: async () => {
      await stopProcess(proc)
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Whether GET /api/v1/events answers with an event stream (SSE has landed). */
async function probeSse(http: string, token: string): Promise<boolean> {
  const ac = new AbortController()
  try {
    const res = await fetch(`${http}/api/v1/events`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: ac.signal })
    return res.status === 200 && (res.headers.get('content-type') ?? '').startsWith('text/event-stream')
  } catch {
    return false
  } finally {
    ac.abort()
  }
}

/** A baseline server (raw Bun or Node ws): prints a JSON `listening` line with its port. */
/**
 * Our server with every store on a fresh PostgreSQL database (MATRIC_TEST_DATABASE_URL's server, else the local
 * one), dropped when it stops. The target speaks as `ours` to the load generator.
 */
async function startOursOnPostgres(opts: StartOptions): Promise<Running> {
  const db = await createTestDatabase('matric_bench_')
  try {
    const running = await startOurs({ ...opts, env: { ...opts.env, MATRIC_DATABASE_URL: db.url } })
    return { ...running, stop: async () => (await running.stop(), await db.drop()) }
  } catch (e) {
    await db.drop()
    throw e
  }
}

async function startBaseline(kind: Exclude<TargetKind, 'ours' | 'ours-pg'>): Promise<Running> {
  const cmd =
    kind === 'bun'
      ? [process.execPath, join(ROOT, 'bench', 'baselines', 'bun-pubsub.ts')]
      : ['node', join(ROOT, 'bench', 'baselines', 'node-ws.mjs')]
  const proc = Bun.spawn(cmd, { cwd: ROOT, env: { ...process.env, PORT: '0', HOST: '127.0.0.1' }, stdout: 'pipe', stderr: 'pipe' })
  const out: string[] = []
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} baseline did not start:\n${out.join('\n')}`)), 15_000)
    drain(proc.stdout as ReadableStream<Uint8Array>, out, (line) => {
      try {
        const rec = JSON.parse(line) as { msg?: string; port?: number }
        if (rec.msg === 'listening' && rec.port) {
          clearTimeout(timer)
          resolve(rec.port)
        }
      } catch {}
    })
    drain(proc.stderr as ReadableStream<Uint8Array>, out)
    void proc.exited.then(() => reject(new Error(`${kind} baseline exited:\n${out.join('\n')}`)))
  })
  const http = `http://127.0.0.1:${port}`
  return {
    target: { kind, pid: proc.pid, http, wsUrl: `ws://127.0.0.1:${port}/ws`, sseUrl: kind === 'bun' ? `${http}/sse` : undefined },
    output: () => out.join('\n'),
    stop: () => stopProcess(proc),
  }
}

export function startTarget(kind: TargetKind, opts: StartOptions = {}): Promise<Running> {
  return kind === 'ours' ? startOurs(opts) : kind === 'ours-pg' ? startOursOnPostgres(opts) : startBaseline(kind)
}
