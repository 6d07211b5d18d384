/**
 * Several real instances (`bun src/index.ts` processes) on one PostgreSQL database: the cluster tests
 * (docs/cluster.md). The database comes from tests/helpers/pg.ts (`describePg`: a fresh one per file, dropped
 * afterwards; failing under CI=true without a server, skipped locally).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { signToken } from '../../src/auth/sign.ts'
import { spawnServer, type ServerProcess } from '../helpers/process.ts'
import { TEST_SECRET } from '../helpers/server.ts'

const CLUSTER_WEBHOOK_KEY = 'cluster-tests-webhook-key-0123456789abcdef'

export const adminToken = () => signToken(new TextEncoder().encode(TEST_SECRET), { sub: 'tester', scope: 'admin', memory: '*', ttlS: 3600 })

export interface Cluster {
  nodes: ServerProcess[]
  /** Starts one more instance (e.g. after a kill). */
  add(env?: Record<string, string>): Promise<ServerProcess>
  /** SIGTERM to every instance still running (SIGKILL after 10 s), temp dirs removed. */
  stop(): Promise<void>
}

/** Starts `n` instances on `databaseUrl` (in parallel: they migrate the database once between them). */
export async function startCluster(databaseUrl: string, n: number, env: Record<string, string> = {}): Promise<Cluster> {
  const dirs: string[] = []
  const nodes: ServerProcess[] = []
  let count = 0
  const add = async (extra: Record<string, string> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'matric-cluster-'))
    dirs.push(dir)
    const p = await spawnServer({
      MATRIC_DATABASE_URL: databaseUrl,
      MATRIC_DATA_DIR: dir,
      // Shared by every instance, as in production: each data dir would otherwise make keys of its own.
      MATRIC_JWT_SECRET: TEST_SECRET,
      MATRIC_WEBHOOK_SECRET_KEY: CLUSTER_WEBHOOK_KEY,
      MATRIC_NODE_ID: `node-${++count}`,
      MATRIC_WORKER_POLL_MS: '50',
      MATRIC_JOB_RETRY_BASE_MS: '20',
      MATRIC_QUEUE_STATUS_INTERVAL_MS: '200',
      MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true',
      MATRIC_WEBHOOK_POLL_MS: '50',
      ...env,
      ...extra,
    })
    nodes.push(p)
    return p
  }
  try {
    await Promise.all(Array.from({ length: n }, () => add()))
  } catch (e) {
    for (const p of nodes) p.proc.kill('SIGKILL')
    throw e
  }
  return {
    nodes,
    add,
    async stop() {
      await Promise.all(
        nodes.map(async (p) => {
          if (p.proc.exitCode !== null || p.proc.signalCode !== null) return
          p.proc.kill('SIGTERM')
          const t = setTimeout(() => p.proc.kill('SIGKILL'), 10_000)
          await p.proc.exited
          clearTimeout(t)
        }),
      )
      for (const d of dirs) rmSync(d, { recursive: true, force: true })
    },
  }
}
