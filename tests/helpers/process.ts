import { join } from 'node:path'
import { apiRequest, type RequestInit } from './http.ts'

const ROOT = join(import.meta.dir, '..', '..')

export interface ServerProcess {
  proc: ReturnType<typeof Bun.spawn>
  port: number
  url: string
  /** Every stdout line so far (JSON log lines). */
  lines: string[]
  /** stderr so far. */
  stderr(): string
  kill(signal?: NodeJS.Signals | number): Promise<number>
  /** fetch against the process, as TestServer.request. */
  request(path: string, init?: RequestInit): Promise<Response>
}

/**
 * Starts `bun src/index.ts` as a separate process (crash and restart tests) and resolves once it logs
 * the port it listens on.
 */
export async function spawnServer(env: Record<string, string>, timeoutMs = 15_000): Promise<ServerProcess> {
  const proc = Bun.spawn([process.execPath, join(ROOT, 'src', 'index.ts')], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', MATRIC_LOG_LEVEL: 'info', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const lines: string[] = []
  let err = ''
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk)
  })()
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${timeoutMs} ms:\n${err}`)), timeoutMs)
    void (async () => {
      let carry = ''
      for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
        const parts = (carry + new TextDecoder().decode(chunk)).split('\n')
        carry = parts.pop() ?? ''
        for (const line of parts) {
          lines.push(line)
          try {
            const rec = JSON.parse(line) as { msg?: string; port?: number }
            if (rec.msg === 'listening' && rec.port) {
              clearTimeout(timer)
              resolve(rec.port)
            }
          } catch {
            // not JSON
          }
        }
      }
      clearTimeout(timer)
      reject(new Error(`server exited before listening:\n${err}`))
    })()
  })
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    lines,
    stderr: () => err,
    request: (path, init) => apiRequest(`http://127.0.0.1:${port}`, path, init),
    kill: async (signal = 'SIGTERM') => {
      proc.kill(signal)
      return proc.exited
    },
  }
}
