// Baseline: what a typical Node team writes — `ws` on node:http with a send loop over the clients.
// Run with `node` (not Bun) by bench/run.ts; prints a JSON `listening` line with its port.
//
//   GET  /ws       WebSocket
//   POST /publish  body = the frame; sent to every open client in a loop → number of clients
//   GET  /health   {connections: {ws}}
import http from 'node:http'
import { WebSocketServer } from 'ws'

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/publish') {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk) => (body += chunk))
    req.on('end', () => {
      let n = 0
      for (const client of wss.clients) {
        if (client.readyState === 1) {
          client.send(body)
          n++
        }
      }
      res.end(String(n))
    })
    return
  }
  if (req.url === '/health') {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ connections: { ws: wss.clients.size } }))
    return
  }
  res.statusCode = 404
  res.end('not found')
})

const wss = new WebSocketServer({ server, path: '/ws', maxPayload: 4096 })
wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate())
})

server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'listening', port: server.address().port }))
})
process.on('SIGTERM', () => {
  for (const c of wss.clients) c.terminate()
  server.close()
  process.exit(0)
})
