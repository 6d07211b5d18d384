/**
 * A real local HTTP receiver for webhook tests: a Bun.serve on 127.0.0.1 that records every request
 * and answers as the test scripts it. Await requests with `waitForRequests` (bounded), never sleep.
 */

export interface ReceivedRequest {
  method: string
  path: string
  headers: Record<string, string>
  /** The body exactly as received. */
  body: string
  /** Date.now() when the request arrived. */
  at: number
}

/** How to answer the n-th request (0-based): a Response, or a promise of one (to hang or delay). */
export type Reply = (req: ReceivedRequest, n: number) => Response | Promise<Response>

export interface Receiver {
  port: number
  url: string
  requests: ReceivedRequest[]
  /** Replaces the reply function. */
  reply: Reply
  /** Answers with these statuses in order (then `then`, default 200). */
  script(statuses: (number | Response | (() => Response | Promise<Response>))[], then?: number): void
  /** Resolves once at least `n` requests arrived (bounded by `timeoutMs`). */
  waitForRequests(n: number, what?: string, timeoutMs?: number): Promise<ReceivedRequest[]>
  /** Releases every request held by `hold()` replies. */
  release(): void
  /** A reply that never answers until `release()` (or the receiver stops). */
  hold(): Promise<Response>
  stop(): Promise<void>
}

export async function startReceiver(opts: { port?: number; reply?: Reply; tls?: { cert: string; key: string } } = {}): Promise<Receiver> {
  const requests: ReceivedRequest[] = []
  const waiters: { n: number; resolve: () => void }[] = []
  let held: (() => void)[] = []
  const receiver: Receiver = {
    port: 0,
    url: '',
    requests,
    reply: opts.reply ?? (() => new Response('ok')),
    script(statuses, then = 200) {
      const queue = [...statuses]
      receiver.reply = () => {
        const next = queue.shift()
        if (next === undefined) return new Response('ok', { status: then })
        if (typeof next === 'number') return new Response(next >= 200 && next < 300 ? 'ok' : `status ${next}`, { status: next })
        if (typeof next === 'function') return next()
        return next
      }
    },
    waitForRequests(n, what = `${n} webhook request(s)`, timeoutMs = 10_000) {
      if (requests.length >= n) return Promise.resolve(requests.slice())
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (got ${requests.length})`)), timeoutMs)
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer)
            resolve(requests.slice())
          },
        })
      })
    },
    release() {
      const list = held
      held = []
      for (const r of list) r()
    },
    hold() {
      return new Promise<Response>((resolve) => held.push(() => resolve(new Response('released'))))
    },
    async stop() {
      receiver.release()
      await server.stop(true)
    },
  }
  const server = Bun.serve({
    port: opts.port ?? 0,
    hostname: '127.0.0.1',
    idleTimeout: 0,
    ...(opts.tls && { tls: opts.tls }),
    async fetch(request) {
      const u = new URL(request.url)
      const rec: ReceivedRequest = {
        method: request.method,
        path: u.pathname + u.search,
        headers: Object.fromEntries(request.headers),
        body: await request.text(),
        at: Date.now(),
      }
      const n = requests.length
      requests.push(rec)
      for (const w of waiters.filter((w) => requests.length >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
      return receiver.reply(rec, n)
    },
  })
  receiver.port = server.port!
  receiver.url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${server.port}`
  return receiver
}

/** A port that was free a moment ago (to start a receiver later, "down" until then). */
export async function freePort(): Promise<number> {
  const s = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = s.port!
  await s.stop(true)
  return port
}
