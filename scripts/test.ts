/**
 * `npm test`: runs `bun test` with the given arguments, streams its output, and ends with the line CI reads:
 * `N passed, N failed`. The exit code is bun's (non-zero if any pass failed).
 *
 * Without arguments there are two passes: everything on the embedded SQLite store, then the integration files in
 * POSTGRES_FILES again with MATRIC_TEST_BACKEND=postgres (tests/helpers/server.ts: a fresh database per server).
 * The PostgreSQL pass needs a server (tests/helpers/pg-admin.ts): under CI=true a missing one is a failure; locally
 * the pass is skipped with a line saying so. With arguments there is one pass, on the backend the environment names
 * (`MATRIC_TEST_BACKEND=postgres npm test tests/integration/notes.test.ts`).
 */
import { databasesLike, dropDatabase, PG_ADMIN_URL, probe, shown } from '../tests/helpers/pg-admin.ts'

/** The integration files that run on both backends (the rest touch SQLite files or rows directly, or are backend-neutral). */
export const POSTGRES_FILES = [
  'tests/integration/auth.test.ts',
  'tests/integration/notes.test.ts',
  'tests/integration/jobs-pause.test.ts',
  'tests/integration/pipeline.test.ts',
  'tests/integration/sse-replay.test.ts',
  'tests/integration/sse-stream.test.ts',
  'tests/integration/ws-hotm.test.ts',
  'tests/integration/webhook-delivery.test.ts',
  'tests/integration/webhook-outbox.test.ts',
  'tests/integration/crash-recovery.test.ts',
  'tests/integration/startup.test.ts',
  'tests/integration/webhook-durability.test.ts',
]

interface Result {
  pass: number
  fail: number
  code: number
}

async function runBun(args: string[], env: Record<string, string | undefined>, onPid?: (pid: number) => void): Promise<Result> {
  // Integration tests start real servers: 30 s per test unless the caller chooses (bunfig.toml has no such key).
  if (!args.some((a) => a.startsWith('--timeout'))) args = ['--timeout', '30000', ...args]
  const proc = Bun.spawn([process.execPath, 'test', ...args], { stdout: 'inherit', stderr: 'pipe', env })
  onPid?.(proc.pid)
  let pass = 0
  let fail = 0
  const count = (line: string) => {
    const m = /^\s*(\d+) (pass|fail)\s*$/.exec(line)
    if (m) m[2] === 'pass' ? (pass = Number(m[1])) : (fail = Number(m[1]))
  }
  const decoder = new TextDecoder()
  let carry = ''
  for await (const chunk of proc.stderr) {
    process.stderr.write(chunk)
    const lines = (carry + decoder.decode(chunk, { stream: true })).split('\n')
    carry = lines.pop() ?? ''
    for (const line of lines) count(line)
  }
  count(carry)
  const code = await proc.exited
  if (code !== 0 && fail === 0) fail = 1 // a crash or load error still counts as a failure
  return { pass, fail, code }
}

/** The PostgreSQL pass; databases its test process left behind (a timed-out file) are dropped afterwards. */
async function postgresPass(): Promise<Result | null> {
  const why = await probe(PG_ADMIN_URL)
  if (why !== null) {
    const msg = `no PostgreSQL server at ${shown(PG_ADMIN_URL)} (${why}); set MATRIC_TEST_DATABASE_URL`
    if (process.env.CI === 'true') {
      console.error(`PostgreSQL pass FAILED: ${msg} (required under CI=true; .ci/run starts one)`)
      return { pass: 0, fail: 1, code: 1 }
    }
    console.error(`PostgreSQL pass skipped: ${msg}`)
    return null
  }
  console.error(`\nPostgreSQL pass (MATRIC_TEST_BACKEND=postgres): ${POSTGRES_FILES.length} integration files`)
  let pid = 0
  const r = await runBun([...POSTGRES_FILES], { ...process.env, MATRIC_TEST_BACKEND: 'postgres' }, (p) => (pid = p))
  const left = await databasesLike(`matric_it_${pid}_`)
  for (const name of left) await dropDatabase(name)
  if (left.length) console.error(`dropped ${left.length} test database(s) the PostgreSQL pass left behind`)
  return r
}

const args = process.argv.slice(2)
const results: Result[] = [await runBun(args, process.env)]
if (args.length === 0) {
  const pg = await postgresPass()
  if (pg) results.push(pg)
}
const pass = results.reduce((n, r) => n + r.pass, 0)
const fail = results.reduce((n, r) => n + r.fail, 0)
console.log(`${pass} passed, ${fail} failed`)
process.exit(results.find((r) => r.code !== 0)?.code ?? 0)
