/**
 * Three instances behind real nginx, with the cluster upstream example (deploy/nginx/cluster-upstream.conf) inside
 * the reference config: clients through nginx and clients connected directly see the same events in the same
 * order, whichever instance took each request. Needs PostgreSQL and nginx (both mandatory under CI=true).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { nginxAvailable, startNginx, type RunningNginx } from '../e2e/lib/nginx.ts'
import { PAGES_DIR } from '../e2e/lib/harness.ts'
import { apiRequest } from '../helpers/http.ts'
import { describePg } from '../helpers/pg.ts'
import { SseClient } from '../helpers/sse-client.ts'
import { waitFor } from '../helpers/wait.ts'
import { WsClient } from '../helpers/ws-client.ts'
import { adminToken, startCluster, type Cluster } from './lib.ts'

const EXAMPLE = join(import.meta.dir, '..', '..', 'deploy', 'nginx', 'cluster-upstream.conf')

const COMPOSE_CONF = join(import.meta.dir, '..', '..', 'deploy', 'nginx', 'nginx-cluster.conf')
const REFERENCE = join(import.meta.dir, '..', '..', 'deploy', 'nginx', 'matric.conf')

/** The example's upstream block with its three `server` addresses replaced (`host:port` each). */
export function clusterUpstream(addresses: readonly string[], source = readFileSync(EXAMPLE, 'utf8')): string {
  const block = source.match(/^upstream matric \{[^}]*\}/m)?.[0]
  if (!block) throw new Error(`${EXAMPLE}: no upstream matric block`)
  let i = 0
  const out = block.replace(/^(\s*)server\s+[^\s;]+:\d+/gm, (_m, indent: string) => `${indent}server ${addresses[i++] ?? '?'}`)
  if (i !== addresses.length) throw new Error(`${EXAMPLE}: ${i} server lines for ${addresses.length} instances`)
  return out
}

/** deploy/nginx/nginx-cluster.conf (mounted by deploy/compose.yaml): the reference config with the cluster upstream. */
export function composeNginxConf(): string {
  const reference = readFileSync(REFERENCE, 'utf8')
  const header =
    '# GENERATED from matric.conf and cluster-upstream.conf for deploy/compose.yaml (tests/cluster/nginx.test.ts checks it;\n' +
    '# regenerate: MATRIC_WRITE_NGINX_CLUSTER=1 bun test tests/cluster/nginx.test.ts). Edit those two files, not this one.\n'
  return header + reference.replace(/^upstream matric \{[^}]*\}/m, clusterUpstream(['matric-a:3000', 'matric-b:3000', 'matric-c:3000']))
}

describe('deploy/nginx/nginx-cluster.conf', () => {
  test('is matric.conf with the cluster upstream (no drift)', () => {
    if (process.env.MATRIC_WRITE_NGINX_CLUSTER === '1') writeFileSync(COMPOSE_CONF, composeNginxConf())
    expect(readFileSync(COMPOSE_CONF, 'utf8')).toBe(composeNginxConf())
  })
})

if (!nginxAvailable() && process.env.CI === 'true') {
  describe('cluster behind nginx', () => test('nginx is installed (required in CI)', () => expect(nginxAvailable()).toBe(true)))
} else if (!nginxAvailable()) {
  console.warn('skipping cluster behind nginx: apt-get install -y nginx')
} else {
  describePg('cluster behind nginx', (db) => {
    let cluster: Cluster
    let nginx: RunningNginx
    let tok: string
    const sse: SseClient[] = []
    const ws: WsClient[] = []

    beforeAll(async () => {
      cluster = await startCluster(db.url(), 3)
      nginx = await startNginx({ upstreamPort: 0, staticRoot: PAGES_DIR, upstreamBlock: clusterUpstream(cluster.nodes.map((n) => `127.0.0.1:${n.port}`)) })
      tok = await adminToken()
    }, 60_000)
    afterAll(async () => {
      for (const c of sse) c.close()
      for (const c of ws) c.close()
      await nginx?.stop()
      await cluster?.stop()
    })

    test('clients through nginx and directly get every event, in one order, wherever it was published', async () => {
      const bases = [nginx.url, nginx.url, nginx.url, ...cluster.nodes.map((n) => n.url)]
      for (const base of bases) {
        const s = await SseClient.open(`${base}/api/v1/events?memory=default`, { headers: { authorization: `Bearer ${tok}` } })
        expect(s.status).toBe(200)
        await s.frame((f) => f.event === 'queue.status', `the opening queue.status via ${base}`)
        sse.push(s)
        ws.push(await WsClient.connect(`${base.replace('http', 'ws')}/api/v1/ws?token=${tok}&memory=default`))
      }
      // Through nginx (least_conn spreads the publishers) and straight to each instance.
      const ids: string[] = []
      for (let i = 0; i < 30; i++) {
        const base = i % 2 ? nginx.url : cluster.nodes[i % 3]!.url
        const res = await apiRequest(base, '/api/v1/events', { token: tok, body: { payload: { type: 'JobCompleted', job_id: `ngx-${i}`, job_type: 'Embedding' } } })
        expect(res.status).toBe(202)
        ids.push(((await res.json()) as { event_id: string }).event_id)
      }
      const order = (s: SseClient) => s.events.filter((f) => f.event === 'job.completed').map((f) => f.id!)
      for (const s of sse) await s.until(() => order(s).length >= ids.length, 'every event on SSE', 15_000)
      const wsOrder = (c: WsClient) => c.frames.filter((f) => f.type === 'JobCompleted').map((f) => f.event_id)
      for (const c of ws) await waitFor(() => wsOrder(c).length >= ids.length, 'every event on the WebSocket', 15_000)
      // Requests from one sequential client are committed in its order, so the log order is the publish order.
      for (const s of sse) expect(order(s)).toEqual(ids)
      for (const c of ws) expect(wsOrder(c)).toEqual(ids)
      // nginx did spread the work: its requests reached more than one instance.
      const seen = new Set<string>()
      for (let i = 0; i < 9; i++) seen.add(((await (await fetch(`${nginx.url}/health`)).json()) as { store: { node_id: string } }).store.node_id)
      expect(seen.size).toBeGreaterThan(1)
    }, 60_000)

    test('an SSE stream cut at nginx resumes through nginx (any instance) without a gap', async () => {
      const first = sse[0]!
      const lastSeen = first.events[first.events.length - 1]!.id!
      first.close()
      const more: string[] = []
      for (let i = 0; i < 10; i++) {
        const res = await apiRequest(cluster.nodes[i % 3]!.url, '/api/v1/events', { token: tok, body: { payload: { type: 'JobCompleted', job_id: `resume-${i}`, job_type: 'Embedding' } } })
        more.push(((await res.json()) as { event_id: string }).event_id)
      }
      const again = await SseClient.open(`${nginx.url}/api/v1/events?memory=default`, { headers: { authorization: `Bearer ${tok}`, 'last-event-id': lastSeen } })
      sse.push(again)
      const got = await again.until(() => {
        const o = again.events.filter((f) => f.event === 'job.completed').map((f) => f.id!)
        return o.length >= more.length && o
      }, 'the events missed while disconnected', 15_000)
      expect(got).toEqual(more)
    }, 30_000)
  })
}
