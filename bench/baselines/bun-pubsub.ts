/**
 * Baseline: the runtime's own limit. A raw `Bun.serve` with native pub/sub and nothing else — no auth,
 * no envelope, no log, no metrics. Same socket options as the service (4 KiB inbound limit, 1 MiB
 * backpressure, pings). Started by bench/run.ts; prints a JSON `listening` line with its port.
 *
 *   GET  /ws           WebSocket; every socket subscribes to one topic
 *   POST /publish      body = the frame; server.publish(topic, frame) → number of bytes sent
 *   GET  /sse          an SSE stream (a plain ReadableStream per client, as typical code does)
 *   POST /publish-sse  body = the `data:` JSON; written once-encoded to every SSE stream in a JS loop
 *   GET  /health       {connections: {ws, sse}}
 *
 * A WebSocket text message `pub:<frame>` publishes too (the control-message trigger).
 */
const TOPIC = 'bench'
const encoder = new TextEncoder()
const sse = new Set<ReadableStreamDefaultController<Uint8Array>>()
let wsOpen = 0
let sseSeq = 0

const server = Bun.serve({
  hostname: process.env.HOST ?? '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  async fetch(req, srv) {
    const url = new URL(req.url)
    if (url.pathname === '/ws') {
      if (srv.upgrade(req, { data: undefined })) return undefined
      return new Response('upgrade failed', { status: 400 })
    }
    if (url.pathname === '/publish' && req.method === 'POST') {
      const frame = await req.text()
      return new Response(String(srv.publish(TOPIC, frame)))
    }
    if (url.pathname === '/publish-sse' && req.method === 'POST') {
      const data = await req.text()
      const bytes = encoder.encode(`id: ${++sseSeq}\nevent: job.progress\ndata: ${data}\n\n`)
      for (const c of sse) c.enqueue(bytes)
      return new Response(String(sse.size))
    }
    if (url.pathname === '/sse') {
      srv.timeout(req, 0)
      let ctrl: ReadableStreamDefaultController<Uint8Array>
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          ctrl = c
          sse.add(c)
          c.enqueue(encoder.encode('retry: 3000\n\n'))
        },
        cancel() {
          sse.delete(ctrl)
        },
      })
      req.signal.addEventListener('abort', () => sse.delete(ctrl))
      return new Response(stream, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } })
    }
    if (url.pathname === '/health') return Response.json({ connections: { ws: wsOpen, sse: sse.size } })
    return new Response('not found', { status: 404 })
  },
  websocket: {
    idleTimeout: 120,
    sendPings: true,
    maxPayloadLength: 4096,
    backpressureLimit: 1024 * 1024,
    closeOnBackpressureLimit: true,
    open(ws) {
      wsOpen++
      ws.subscribe(TOPIC)
    },
    message(ws, message) {
      if (typeof message === 'string' && message.startsWith('pub:')) server.publish(TOPIC, message.slice(4))
    },
    close() {
      wsOpen--
    },
  },
})

console.log(JSON.stringify({ msg: 'listening', port: server.port }))
process.on('SIGTERM', () => {
  server.stop(true)
  process.exit(0)
})
