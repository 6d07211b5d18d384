/**
 * Bundles the harness page (page/entry.ts) with HotM's realtime modules taken unchanged from a HotM
 * checkout, for the browser. Only what HotM's own bundler (Vite) would provide is supplied here:
 * - the `@/` alias → `<checkout>/ui/src/` (HotM's tsconfig/vite alias);
 * - `import.meta.env` (VITE_API_BASE_URL and the mode flags; unset VITE_* variables are undefined, as in Vite);
 * - JSON imports (Bun, as Vite);
 * - host-only modules: `@tauri-apps/*` (the page is not in Tauri), `react` (page/react-hooks.ts, enough to run
 *   HotM's hook), and `@/api` (page/api-index.ts, the compatibility gate built as HotM's index builds it).
 * A HotM module importing anything else fails the build, naming it: the harness then needs a look.
 */
import { existsSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { BunPlugin } from 'bun'

const PAGE = join(import.meta.dir, 'page')

/** The HotM files the realtime path loads (relative to the checkout); all must exist. */
export const HOTM_REALTIME_FILES = [
  'ui/package.json',
  'ui/src/services/websocket.ts',
  'ui/src/services/realtimeEventBus.ts',
  'ui/src/api/events.ts',
  'ui/src/api/client.ts',
  'ui/src/api/jobs.ts',
  'ui/src/api/errors.ts',
  'ui/src/api/auth-context.ts',
  'ui/src/api/memory-context.ts',
  'ui/src/api/systemCompatibility.ts',
  'ui/src/api/contracts/fortemi-asyncapi-event-validation-rules.json',
  'ui/src/api/contracts/fortemi-system-compatibility-receipt.json',
  'ui/src/lib/tauri.ts',
  'ui/src/lib/runtime-config.ts',
] as const

/** Missing realtime files of a checkout (empty = usable). */
export function missingHotmFiles(checkout: string): string[] {
  return HOTM_REALTIME_FILES.filter((f) => !existsSync(join(checkout, f)))
}

/** Resolves `@/x` inside `<checkout>/ui/src` the way Vite does for TypeScript sources. */
export function resolveAlias(srcRoot: string, spec: string): string | undefined {
  const base = join(srcRoot, spec.slice(2))
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, `${base}.json`, join(base, 'index.ts'), join(base, 'index.tsx')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate
  }
  return undefined
}

export interface BuildOptions {
  checkout: string
  /** VITE_API_BASE_URL baked into the bundle (absolute: HotM builds `new URL(base + '/events')`). */
  apiBaseUrl: string
}

function hotmEnvironment(srcRoot: string): BunPlugin {
  return {
    name: 'hotm-environment',
    setup(build) {
      build.onResolve({ filter: /^@\/api$/ }, () => ({ path: join(PAGE, 'api-index.ts') }))
      build.onResolve({ filter: /^@\// }, (args) => {
        const path = resolveAlias(srcRoot, args.path)
        if (!path) throw new Error(`HotM import ${args.path} (from ${args.importer}) is not in the checkout`)
        return { path }
      })
      build.onResolve({ filter: /^react$/ }, () => ({ path: join(PAGE, 'react-hooks.ts') }))
      build.onResolve({ filter: /^@tauri-apps\// }, () => ({ path: join(PAGE, 'tauri-absent.ts') }))
    },
  }
}

/** Builds the bundle; returns its JavaScript. Throws with Bun's messages on failure. */
export async function buildHarness(opts: BuildOptions): Promise<string> {
  const checkout = resolve(opts.checkout)
  const missing = missingHotmFiles(checkout)
  if (missing.length) throw new Error(`not a usable HotM checkout (${checkout}); missing: ${missing.join(', ')}`)
  const env = {
    VITE_API_BASE_URL: opts.apiBaseUrl,
    MODE: 'production',
    DEV: false,
    PROD: true,
    SSR: false,
    BASE_URL: '/',
  }
  const result = await Bun.build({
    entrypoints: [join(PAGE, 'entry.ts')],
    target: 'browser',
    format: 'esm',
    minify: false,
    define: { 'import.meta.env': JSON.stringify(env) },
    plugins: [hotmEnvironment(join(checkout, 'ui', 'src'))],
    throw: false,
  })
  if (!result.success) throw new Error(`bundling the HotM client failed:\n${result.logs.map((l) => String(l)).join('\n')}`)
  const js = result.outputs[0]
  if (!js) throw new Error('bundling the HotM client produced no output')
  return js.text()
}

/** The harness page (module script next to it). */
export const HARNESS_HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>HotM realtime harness</title></head>
<body><p>HotM realtime client under test (matric-realtime e2e-hotm)</p>
<script type="module" src="/hotm-harness.js"></script>
</body>
</html>
`
