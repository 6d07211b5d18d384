/**
 * A stand-in for the network between a browser and the server: an HTTP proxy on 127.0.0.1 that forwards every
 * request (streaming the answer, so SSE works) and can end every open response at once, the way a restarted
 * load balancer does. Tests of reconnect and resume use it.
 */
export interface CuttingProxy {
  url: string
  /** Aborts every request in flight upstream and ends their responses to the client mid-stream. */
  cut(): void
  stop(): Promise<void>
}

export function startCuttingProxy(upstream: string): CuttingProxy {
  let inFlight = new AbortController()
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url)
      const headers = new Headers(req.headers)
      headers.delete('host')
      const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer()
      const signal = inFlight.signal
      const res = await fetch(upstream + url.pathname + url.search, { method: req.method, headers, body, signal, redirect: 'manual', decompress: false } as RequestInit)
      if (!res.body) return new Response(null, { status: res.status, headers: res.headers })
      const reader = res.body.getReader()
      // Pumped by hand: a cut ends the client's response right there (ended, not errored: Bun would log an errored
      // stream as unhandled; either way the client's read ends mid-stream and it must reconnect).
      const stream = new ReadableStream<Uint8Array>({
        async pull(c) {
          try {
            const { value, done } = await reader.read()
            if (done) c.close()
            else c.enqueue(value)
          } catch {
            c.close()
          }
        },
        cancel: () => void reader.cancel().catch(() => {}),
      })
      return new Response(stream, { status: res.status, headers: res.headers })
    },
  })
  return {
    url: `http://127.0.0.1:${server.port}`,
    cut() {
      inFlight.abort(new Error('connection cut by the test'))
      inFlight = new AbortController()
    },
    stop: () => server.stop(true),
  }
}
