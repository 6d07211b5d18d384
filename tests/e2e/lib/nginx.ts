/**
 * Runs real nginx with the reference config (deploy/nginx/matric.conf) for end-to-end tests.
 *
 * The reference file is rendered, not copied: only the upstream address, the `listen` port and the
 * `root` are substituted (each must match exactly once, so a change to the file that breaks the
 * substitution fails loudly). A minimal main config around it holds what a system nginx.conf would
 * (pid, error log, temp paths, mime types), all inside a temp prefix, so no root and no system paths
 * are needed.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const NGINX_BIN = '/usr/sbin/nginx'
export const REFERENCE_CONF = join(import.meta.dir, '..', '..', '..', 'deploy', 'nginx', 'matric.conf')

export interface NginxOptions {
  /** Port of the matric-realtime upstream on 127.0.0.1. */
  upstreamPort: number
  /** Directory served as the web root (a HotM build, or the test pages). */
  staticRoot: string
  /** Replaces the reference's whole `upstream matric { … }` block (several instances: tests/cluster/nginx.test.ts). */
  upstreamBlock?: string
}

export interface RunningNginx {
  port: number
  /** `http://127.0.0.1:<port>` */
  url: string
  stop(): Promise<void>
}

export function nginxAvailable(): boolean {
  return existsSync(NGINX_BIN)
}

/** Replaces the one uncommented directive matching `re` (a multiline regex); throws unless exactly one matches. */
function substituteOnce(conf: string, re: RegExp, replacement: string, what: string): string {
  const matches = conf.match(new RegExp(re.source, 'gm')) ?? []
  if (matches.length !== 1) throw new Error(`${REFERENCE_CONF}: expected exactly one ${what}, found ${matches.length}`)
  return conf.replace(new RegExp(re.source, 'm'), (_m, indent: string) => `${indent}${replacement}`)
}

/** The reference config with the test's upstream, port and root. */
export function renderReferenceConfig(
  opts: { upstreamPort: number; listenPort: number; staticRoot: string; upstreamBlock?: string },
  source = readFileSync(REFERENCE_CONF, 'utf8'),
): string {
  let conf = opts.upstreamBlock
    ? substituteOnce(source, /^()upstream matric \{[^}]*\}/, opts.upstreamBlock.trim(), 'upstream block')
    : substituteOnce(source, /^(\s*)server\s+[^\s;]+:\d+;/, `server 127.0.0.1:${opts.upstreamPort};`, 'upstream server')
  conf = substituteOnce(conf, /^(\s*)listen\s+[^;]+;/, `listen 127.0.0.1:${opts.listenPort};`, '`listen`')
  conf = substituteOnce(conf, /^(\s*)root\s+[^;]+;/, `root ${JSON.stringify(opts.staticRoot)};`, '`root`')
  return conf
}

function mainConfig(prefix: string): string {
  const mime = existsSync('/etc/nginx/mime.types')
    ? 'include /etc/nginx/mime.types;'
    : 'types { text/html html; text/css css; application/javascript js mjs; application/json json; image/svg+xml svg; }'
  return [
    // As root nginx would switch its workers to `nobody`, which cannot read a 0700 temp dir.
    process.getuid?.() === 0 ? 'user root;' : '',
    'worker_processes 1;',
    `pid ${join(prefix, 'nginx.pid')};`,
    `error_log ${join(prefix, 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    `  ${mime}`,
    '  default_type application/octet-stream;',
    `  access_log ${join(prefix, 'access.log')};`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(prefix, 'tmp', t)};`),
    `  include ${join(prefix, 'matric.conf')};`,
    '}',
    '',
  ].join('\n')
}

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = s.port
  s.stop(true)
  return port
}

/** Starts nginx in the foreground on a free port; resolves once it answers HTTP. */
export async function startNginx(opts: NginxOptions): Promise<RunningNginx> {
  if (!nginxAvailable()) throw new Error(`${NGINX_BIN} not found (apt-get install -y nginx)`)
  let lastError = ''
  // A port picked free can be taken before nginx binds it: try another one.
  for (let attempt = 0; attempt < 5; attempt++) {
    const prefix = mkdtempSync(join(tmpdir(), 'matric-nginx-'))
    mkdirSync(join(prefix, 'tmp'))
    const port = await freePort()
    writeFileSync(join(prefix, 'matric.conf'), renderReferenceConfig({ upstreamPort: opts.upstreamPort, listenPort: port, staticRoot: opts.staticRoot, upstreamBlock: opts.upstreamBlock }))
    writeFileSync(join(prefix, 'nginx.conf'), mainConfig(prefix))
    const proc = Bun.spawn([NGINX_BIN, '-p', prefix, '-e', join(prefix, 'error.log'), '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], {
      stdout: 'ignore',
      stderr: 'pipe',
    })
    let stderr = ''
    void (async () => {
      for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) stderr += new TextDecoder().decode(chunk)
    })()
    const errorLog = () => (existsSync(join(prefix, 'error.log')) ? readFileSync(join(prefix, 'error.log'), 'utf8') : '')
    const cleanup = () => rmSync(prefix, { recursive: true, force: true })

    const deadline = Date.now() + 10_000
    let up = false
    while (Date.now() < deadline && proc.exitCode === null) {
      try {
        await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) })
        up = true
        break
      } catch {
        await Bun.sleep(25)
      }
    }
    if (up) {
      const stop = async () => {
        if (proc.exitCode === null) {
          proc.kill('SIGTERM') // fast shutdown: the master stops its workers, open streams are cut
          const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(5000).then(() => false)])
          if (!exited) {
            proc.kill('SIGKILL')
            await proc.exited
          }
        }
        cleanup()
      }
      return { port, url: `http://127.0.0.1:${port}`, stop }
    }
    if (proc.exitCode === null) {
      proc.kill('SIGKILL')
      await proc.exited
    } else await proc.exited
    lastError = `${stderr}\n${errorLog()}`.trim()
    cleanup()
    if (!/Address already in use/.test(lastError)) break
  }
  throw new Error(`nginx did not start: ${lastError || 'no answer within 10 s'}`)
}
