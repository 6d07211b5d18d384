import { join } from 'node:path'

export const UI_DIR = join(import.meta.dir, 'ui')

export interface ConsoleAsset {
  body: Uint8Array
  /** The same bytes gzipped once at build (served to browsers that accept it). */
  gzip: Uint8Array
  type: string
  /** Short content hash: the page references `?v=<hash>`, so assets may be cached for a long time. */
  hash: string
}

export interface ConsoleBundle {
  html: string
  assets: ReadonlyMap<string, ConsoleAsset>
  /** Bytes the browser loads: the page and its assets. */
  bytes: { html: number; js: number; css: number; total: number; gzipTotal: number }
}

let building: Promise<ConsoleBundle> | undefined

/**
 * The console compiled from src/modules/console/ui with Bun.build (TypeScript → one minified browser
 * script) plus its stylesheet, once per process: the sources do not change while it runs, and every app in
 * the process serves the same bytes. Nothing is fetched; the page needs no network beyond this server.
 */
export function consoleBundle(): Promise<ConsoleBundle> {
  building ??= build().catch((e) => {
    building = undefined // a later request tries again (and reports the error again)
    throw e
  })
  return building
}

async function build(): Promise<ConsoleBundle> {
  const result = await Bun.build({ entrypoints: [join(UI_DIR, 'main.ts')], target: 'browser', minify: true, sourcemap: 'none', format: 'esm' })
  if (!result.success) throw new AggregateError(result.logs, 'console bundle failed to build')
  const js = new Uint8Array(await result.outputs[0]!.arrayBuffer())
  const css = new Uint8Array(await Bun.file(join(UI_DIR, 'console.css')).arrayBuffer())
  const assets = new Map<string, ConsoleAsset>([
    ['console.js', { body: js, gzip: Bun.gzipSync(js), type: 'text/javascript; charset=utf-8', hash: shortHash(js) }],
    ['console.css', { body: css, gzip: Bun.gzipSync(css), type: 'text/css; charset=utf-8', hash: shortHash(css) }],
  ])
  const template = await Bun.file(join(UI_DIR, 'index.html')).text()
  const html = template.replace(/\{\{(console\.(?:js|css))\}\}/g, (_, name: string) => `/console/assets/${name}?v=${assets.get(name)!.hash}`)
  const htmlBytes = new TextEncoder().encode(html)
  const gzipTotal = Bun.gzipSync(htmlBytes).length + [...assets.values()].reduce((n, a) => n + a.gzip.length, 0)
  return { html, assets, bytes: { html: htmlBytes.length, js: js.length, css: css.length, total: htmlBytes.length + js.length + css.length, gzipTotal } }
}

function shortHash(b: Uint8Array): string {
  return new Bun.CryptoHasher('sha256').update(b).digest('hex').slice(0, 12)
}
