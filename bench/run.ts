/**
 * Benchmark runner: starts each server under test (matric-realtime, raw Bun.serve pub/sub, Node ws) as a
 * child process, runs the load generator (bench/loadgen.ts) against it in another process, and prints a
 * markdown table with ratios to the baselines measured in the same run, plus the verdict on each target.
 * JSON results go to bench/results/ (git-ignored; BENCHMARKS.md is the committed record).
 *
 *   npm run bench                      quick default (< 2 minutes)
 *   npm run bench -- --full            the target-sized runs (5,000 idle, 1,000 SSE × 50/s, longer runs, 5 min soak)
 *   npm run bench -- --soak-seconds 600 --only soak
 *   npm run bench -- --help
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { loadAverage } from './lib/proc.ts'
import { resultsTable, verdicts, verdictTable } from './lib/report.ts'
import { emptyResult, RESULT_PREFIX, TARGET_LABEL, type FailMode, type RunResult, type Scenario, type Spec, type TargetKind } from './lib/spec.ts'
import { ROOT, srcFingerprint, startTarget, type StartOptions } from './lib/targets.ts'
import type { ClientKind } from './lib/ws-fleet.ts'

const HELP = `usage: bun bench/run.ts [options]

  --full                  target-sized runs: fan-out 5,000 events; 1,000 × 100/s for 20 s; 5,000 idle;
                          1,000 SSE × 50/s for 20 s; 5,000 webhook events; a 300 s soak
  --only a,b              scenarios: fanout, rate, idle, sse, webhook, pipeline, soak
  --targets a,b           servers: ours, bun, node, ours-pg (default all that apply)
  --postgres              also run fan-out, rate and SSE against our server on PostgreSQL (ours-pg: a fresh
                          database on MATRIC_TEST_DATABASE_URL's server, else 127.0.0.1:5432), in the same run
  --fanout-clients N      (500)      --fanout-events N (2000)    --window N (32 publishes in flight)
  --rate-clients N        (1000)     --rate N (100 events/s)     --seconds N (5)
  --idle N                (2000)
  --sse-clients N         (200)      --sse-rate N (20)           --sse-seconds N (5)
  --webhook-events N      (1000)     --webhook-fail first|random|alternate (first; --full: first and random)
  --pipeline-notes N      (100)      --pipeline-clients N (50)
  --soak-seconds N        run the soak for N seconds (default: 10 in the quick run, 300 with --full)
  --bytes N               message size (256)
  --repeat N              runs per server for fan-out and rate (default 3 and 2; 5 and 3 with --full);
                          the table shows the median run and ratios are medians of back-to-back pairs
  --client raw|runtime    clients of the load generator: RFC 6455 / HTTP over Bun.connect with in-place
                          parsing (raw, default, cheapest per event) or the runtime's WebSocket class and fetch()
  --smol                  run our server with bun --smol (smaller heap, more GC)
  --profile               run our server under bun --cpu-prof-md; profiles in bench/results/profiles/
  --out FILE              JSON results (default bench/results/<timestamp>.json and latest.json)
`

type Flags = Map<string, string | true>

function parseFlags(argv: string[]): Flags {
  const f: Flags = new Map()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`)
    const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined]
    const next = argv[i + 1]
    if (inline !== undefined) f.set(k, inline)
    else if (next !== undefined && !next.startsWith('--')) f.set(k, argv[++i]!)
    else f.set(k, true)
  }
  return f
}

const KNOWN = new Set([
  'full', 'only', 'targets', 'fanout-clients', 'fanout-events', 'window', 'rate-clients', 'rate', 'seconds', 'idle', 'sse-clients',
  'sse-rate', 'sse-seconds', 'webhook-events', 'webhook-fail', 'pipeline-notes', 'pipeline-clients', 'soak-seconds', 'bytes',
  'profile', 'out', 'help', 'client', 'repeat', 'smol', 'postgres',
])

function num(f: Flags, name: string, def: number): number {
  const v = f.get(name)
  if (v === undefined) return def
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} expects a positive number, got ${String(v)}`)
  return n
}

interface Step {
  key: string
  scenario: Scenario
  targets: TargetKind[]
  /** Runs of each target, interleaved (bun, ours, bun, ours …) so that background load hits both alike. */
  repeat?: number
  /** Targets run on the first round only (Node ws: slow, and far from the others). */
  once?: TargetKind[]
  start?: StartOptions
}

function plan(f: Flags): Step[] {
  const full = f.has('full')
  const bytes = num(f, 'bytes', 256)
  const window = num(f, 'window', 32)
  const soakSeconds = num(f, 'soak-seconds', full ? 300 : 10)
  const repeat = f.has('repeat') ? num(f, 'repeat', 1) : undefined
  const failMode = (f.get('webhook-fail') ?? 'first') as FailMode
  if (!['first', 'random', 'alternate'].includes(failMode)) throw new Error('--webhook-fail expects first, random or alternate')
  const steps: Step[] = [
    {
      key: 'fanout',
      scenario: { kind: 'ws-fanout', clients: num(f, 'fanout-clients', 500), events: num(f, 'fanout-events', full ? 5000 : 2000), window, bytes },
      targets: ['bun', 'ours', 'node'],
      repeat: repeat ?? (full ? 5 : 3),
      once: ['node'],
    },
    {
      key: 'rate',
      scenario: { kind: 'ws-rate', clients: num(f, 'rate-clients', 1000), rate: num(f, 'rate', 100), seconds: num(f, 'seconds', full ? 20 : 5), bytes },
      targets: ['bun', 'ours', 'node'],
      repeat: repeat ?? (full ? 3 : 2),
      once: ['node'],
    },
    { key: 'idle', scenario: { kind: 'ws-idle', clients: num(f, 'idle', full ? 5000 : 2000) }, targets: ['bun', 'ours', 'node'] },
    {
      key: 'sse',
      scenario: {
        kind: 'sse-rate',
        clients: num(f, 'sse-clients', full ? 1000 : 200),
        rate: num(f, 'sse-rate', full ? 50 : 20),
        seconds: num(f, 'sse-seconds', full ? 20 : 5),
        bytes,
      },
      targets: ['bun', 'ours'],
    },
    { key: 'webhook', scenario: { kind: 'webhook', events: num(f, 'webhook-events', full ? 5000 : 1000), window, bytes, failMode: 'none' }, targets: ['ours'] },
    // --full also runs a receiver failing each request with probability ½ (some events may then exhaust
    // the 11 attempts docs/webhooks.md allows: 2^-11 per event).
    ...(full && !f.has('webhook-fail') ? (['first', 'random'] as const) : [failMode]).map(
      (mode): Step => ({ key: 'webhook', scenario: { kind: 'webhook', events: num(f, 'webhook-events', full ? 5000 : 1000), window, bytes, failMode: mode }, targets: ['ours'] }),
    ),
    {
      key: 'pipeline',
      scenario: { kind: 'pipeline', clients: num(f, 'pipeline-clients', 50), notes: num(f, 'pipeline-notes', full ? 500 : 100), rate: 20 },
      targets: ['ours'],
    },
    {
      key: 'soak',
      scenario: {
        kind: 'soak',
        seconds: soakSeconds,
        steadyClients: 200,
        churnClients: 300,
        churnPerS: 50,
        sseClients: 50,
        rate: 20,
        notesPerS: 2,
      },
      targets: ['ours'],
      start: { tokenTtlS: soakSeconds + 3600 },
    },
  ]
  const only = typeof f.get('only') === 'string' ? new Set((f.get('only') as string).split(',')) : null
  const targets = typeof f.get('targets') === 'string' ? new Set((f.get('targets') as string).split(',')) : null
  // --postgres: the same fan-out, rate and SSE runs against our server on PostgreSQL, right after ours.
  if (f.has('postgres'))
    for (const s of steps) if (['fanout', 'rate', 'sse'].includes(s.key)) s.targets.splice(s.targets.indexOf('ours') + 1, 0, 'ours-pg')
  return steps
    .filter((s) => !only || only.has(s.key))
    .map((s) => ({ ...s, targets: s.targets.filter((t) => !targets || targets.has(t)) }))
    .filter((s) => s.targets.length)
}

function machine(): Record<string, string> {
  const sh = (cmd: string[]) => {
    try {
      return Bun.spawnSync(cmd).stdout.toString().trim()
    } catch {
      return 'unknown'
    }
  }
  const model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown'
  return {
    nproc: sh(['nproc']),
    cpu: model,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    bun: Bun.version,
    node: sh(['node', '--version']),
    kernel: sh(['uname', '-r']),
    ulimitN: sh(['sh', '-c', 'ulimit -n']),
    // Read-only: which code was measured (the tree may hold uncommitted work of other engineers).
    commit: sh(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD']),
    uncommittedFiles: sh(['sh', '-c', `git -C '${ROOT}' status --porcelain | wc -l`]),
    modifiedSrc: sh(['sh', '-c', `git -C '${ROOT}' status --porcelain -- src | awk '{print $2}' | tr '\n' ' '`]),
  }
}

async function runOne(step: Step, kind: TargetKind, client: ClientKind, profileDir: string | undefined, repeat: number, smol: boolean): Promise<RunResult> {
  const t0 = performance.now()
  process.stderr.write(`- ${step.key} (${step.scenario.kind}) on ${kind}${(step.repeat ?? 1) > 1 ? `, run ${repeat}` : ''} …\n`)
  let running
  const code = srcFingerprint()
  try {
    running = await startTarget(kind, { ...step.start, profileDir: kind === 'bun' || kind === 'node' ? undefined : profileDir, smol })
  } catch (e) {
    const r = emptyResult({ scenario: step.scenario, target: { kind, pid: 0, http: '', wsUrl: '' }, client, repeat })
    r.error = (e as Error).message
    return r
  }
  const spec: Spec = { scenario: step.scenario, target: running.target, client, repeat }
  let result: RunResult
  try {
    if (step.scenario.kind === 'sse-rate' && !running.target.sseUrl) {
      result = emptyResult(spec)
      result.error = kind === 'ours' || kind === 'ours-pg' ? 'SSE endpoint GET /api/v1/events not present in this build' : 'no SSE baseline for this server'
    } else {
      const proc = Bun.spawn([process.execPath, join(ROOT, 'bench', 'loadgen.ts'), JSON.stringify(spec)], {
        cwd: ROOT,
        // Bun caps concurrent fetches at 256 by default; SSE streams are long-lived fetches.
        env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: '20000' },
        stdout: 'pipe',
        stderr: 'inherit',
      })
      const limitS = step.scenario.kind === 'soak' ? step.scenario.seconds + 300 : 600
      const timer = setTimeout(() => proc.kill('SIGKILL'), limitS * 1000)
      const out = await new Response(proc.stdout as ReadableStream<Uint8Array>).text()
      await proc.exited
      clearTimeout(timer)
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX))
      if (line) result = JSON.parse(line.slice(RESULT_PREFIX.length)) as RunResult
      else {
        result = emptyResult(spec)
        result.error = `load generator ended without a result (exit ${proc.exitCode}, signal ${proc.signalCode})`
      }
    }
  } finally {
    await running.stop()
  }
  result.code = code
  // The load generator knows the server as `ours`; the row is the PostgreSQL variant.
  if (kind === 'ours-pg') (result.target = kind), (result.label = TARGET_LABEL[kind])
  if (result.error) process.stderr.write(`  error: ${result.error}\n${running.output().split('\n').slice(-10).join('\n')}\n`)
  process.stderr.write(`  done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
  return result
}

async function main(): Promise<void> {
  const f = parseFlags(process.argv.slice(2))
  if (f.has('help')) {
    process.stdout.write(HELP)
    return
  }
  for (const k of f.keys()) if (!KNOWN.has(k)) throw new Error(`unknown option --${k} (see --help)`)
  const steps = plan(f)

  const client = (f.get('client') ?? 'raw') as ClientKind
  if (client !== 'raw' && client !== 'runtime') throw new Error('--client expects raw or runtime')
  const started = new Date()
  const resultsDir = join(ROOT, 'bench', 'results')
  const profileDir = f.has('profile') ? join(resultsDir, 'profiles', started.toISOString().replace(/[:.]/g, '-')) : undefined
  const loadBefore = loadAverage()
  process.stderr.write(`matric-realtime bench — load average before: ${loadBefore}\n`)

  const results: RunResult[] = []
  const t0 = performance.now()
  for (const step of steps)
    for (let k = 1; k <= (step.repeat ?? 1); k++)
      for (const kind of step.targets) if (k === 1 || !step.once?.includes(kind)) results.push(await runOne(step, kind, client, profileDir, k, f.has('smol')))
  const totalS = (performance.now() - t0) / 1000
  const loadAfter = loadAverage()

  const m = machine()
  const codes = [...new Set(results.map((r) => r.code))]
  const vs = verdicts(results)
  const md = [
    `## Results ${started.toISOString()}`,
    '',
    (f.has('smol') ? 'Our server ran with `bun --smol`. ' : '') +
    `Machine: ${m.nproc} × ${m.cpu}, ${m.memory}, kernel ${m.kernel}, Bun ${m.bun}, Node ${m.node}, ulimit -n ${m.ulimitN}. ` +
      `Code: commit ${m.commit}${m.modifiedSrc ? ` plus uncommitted changes to ${m.modifiedSrc.trim()}` : ''}, src fingerprint ${codes.join(', ')}. ` +
      (codes.length > 1 ? '**src/ changed during this run: the rows measured different code (see `code` in the JSON).** ' : '') +
      `Load average before ${loadBefore}, after ${loadAfter}. Total ${totalS.toFixed(0)} s. ` +
      `The load generator (one Bun process, ${client === 'raw' ? 'WebSocket and SSE clients on raw Bun.connect sockets' : "Bun's WebSocket class and fetch() streams"}) shares the cores with the server under test; ` +
      'CPU % is of one core; "other" is the rest of the machine during the window (other work, not charged to either process).',
    '',
    resultsTable(results),
    '',
    '### Targets',
    '',
    verdictTable(vs),
    '',
  ].join('\n')
  process.stdout.write(md + '\n')

  mkdirSync(resultsDir, { recursive: true })
  const json = JSON.stringify({ started: started.toISOString(), seconds: totalS, argv: process.argv.slice(2), client, machine: m, codes, loadBefore, loadAfter, results, verdicts: vs }, null, 2)
  const out = typeof f.get('out') === 'string' ? (f.get('out') as string) : join(resultsDir, `${started.toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(out, json)
  writeFileSync(join(resultsDir, 'latest.json'), json)
  writeFileSync(join(resultsDir, 'latest.md'), md)
  process.stderr.write(`results: ${out}${profileDir ? `\nprofiles: ${profileDir}` : ''}\n`)
}

await main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`)
  process.exit(2)
})
