/**
 * Stand-in for tests/e2e/lib/nginx.ts (same API: `startNginx({upstreamPort, staticRoot}) => {port, url, stop()}`),
 * used by scripts/e2e-hotm.ts only while that module is not on this branch. It runs /usr/sbin/nginx in the
 * foreground with a throwaway prefix: the static root at `/`, `/api/` proxied to the server the way a
 * same-origin HotM deployment does it (HTTP/1.1 to the upstream, WebSocket upgrade passed through, response
 * buffering off so SSE frames arrive as they are written).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface NginxOptions {
  upstreamPort: number
  staticRoot: string
}

export interface Nginx {
  port: number
  url: string
  stop(): Promise<void>
}

const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx'

/** A port that was free a moment ago (nginx needs a number in its config). */
export async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = s.port
  s.stop(true)
  return port
}

export function nginxConfig(prefix: string, port: number, o: NginxOptions): string {
  return `worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  types { text/html html; application/javascript js; application/json json; }
  default_type application/octet-stream;
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  upstream matric { server 127.0.0.1:${o.upstreamPort}; keepalive 16; }
  server {
    listen 127.0.0.1:${port};
    root ${o.staticRoot};
    location / { try_files $uri /index.html; }
    location /api/ {
      proxy_pass http://matric;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_buffering off;
      proxy_cache off;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
  }
}
`
}

export async function startNginx(o: NginxOptions): Promise<Nginx> {
  const prefix = mkdtempSync(join(tmpdir(), 'e2e-hotm-nginx-'))
  mkdirSync(join(prefix, 'tmp'), { recursive: true })
  const port = await freePort()
  const conf = join(prefix, 'nginx.conf')
  writeFileSync(conf, nginxConfig(prefix, port, o))
  const proc = Bun.spawn([NGINX, '-p', prefix, '-c', conf, '-g', 'daemon off;'], { stdout: 'ignore', stderr: 'pipe' })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 10_000
  for (;;) {
    if (proc.exitCode !== null) {
      const err = await new Response(proc.stderr as ReadableStream).text()
      rmSync(prefix, { recursive: true, force: true })
      throw new Error(`nginx exited (${proc.exitCode}): ${err}`)
    }
    try {
      const res = await fetch(`${url}/`)
      await res.body?.cancel()
      break
    } catch {
      if (Date.now() > deadline) {
        proc.kill()
        throw new Error('nginx did not accept connections within 10 s')
      }
      await Bun.sleep(50)
    }
  }
  return {
    port,
    url,
    stop: async () => {
      proc.kill('SIGQUIT')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await proc.exited
      clearTimeout(timer)
      rmSync(prefix, { recursive: true, force: true })
    },
  }
}
