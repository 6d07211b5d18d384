/**
 * Server CPU per external publish (`POST /api/v1/events`) with no subscribers: the part of every event's cost
 * that is ours and not the fan-out. A separate client process keeps `--concurrency` requests in flight for
 * `--seconds`; the server's CPU comes from /proc. Used to measure the publish-path changes in docs/decisions.md.
 *
 *   bun bench/publish-cost.ts [--seconds 5] [--concurrency 16] [--repeat 3]
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { benchPayload } from './lib/frame.ts'
import { cpuTicks, CLK_TCK, loadAverage } from './lib/proc.ts'
import { ROOT, startOurs } from './lib/targets.ts'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    repeat: { type: 'string', default: '3' },
    client: { type: 'string' }, // internal: run as the client process
  },
})

if (values.client) {
  // Client process: POST as fast as the server answers, `concurrency` at a time.
  const { url, token, seconds, concurrency } = JSON.parse(values.client) as { url: string; token: string; seconds: number; concurrency: number }
  const body = JSON.stringify({ payload: benchPayload(0, 0, 256) })
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
  let n = 0
  const end = performance.now() + seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const res = await fetch(url, { method: 'POST', headers, body })
        await res.arrayBuffer()
        if (res.status !== 202) throw new Error(`publish answered ${res.status}`)
        n++
      }
    }),
  )
  console.log(JSON.stringify({ n }))
  process.exit(0)
}

const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)
console.log(`load average ${loadAverage()}; ${values.repeat} × ${seconds} s at ${concurrency} in flight`)
for (let r = 0; r < Number(values.repeat); r++) {
  const ours = await startOurs()
  try {
    const { pid, http, tokens } = ours.target
    const spec = JSON.stringify({ url: `${http}/api/v1/events`, token: tokens!.admin, seconds, concurrency })
    const before = cpuTicks(pid)
    const client = Bun.spawn([process.execPath, join(ROOT, 'bench', 'publish-cost.ts'), '--client', spec], { stdout: 'pipe', stderr: 'inherit' })
    const { n } = JSON.parse(await new Response(client.stdout).text()) as { n: number }
    const cpuUs = ((cpuTicks(pid) - before) / CLK_TCK) * 1e6
    console.log(`run ${r + 1}: ${n} publishes, ${Math.round(n / seconds)}/s, server CPU ${Math.round(cpuUs / n)} µs per publish`)
  } finally {
    await ours.stop()
  }
}
