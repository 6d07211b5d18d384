import { createApp } from './app.ts'
import { loadConfig } from './config.ts'
import { createContext } from './context.ts'
import { createLogger } from './telemetry/log.ts'

/** The OpenAPI document as committed: built from a throwaway app, pretty-printed, newline-terminated. */
export async function renderOpenApi(dataDir: string): Promise<string> {
  const config = loadConfig({ MATRIC_DATA_DIR: dataDir, MATRIC_DB_PATH: ':memory:', MATRIC_JWT_SECRET: 'openapi-generation-only-secret-0123456789' })
  const ctx = await createContext(config, { logger: createLogger('error') })
  try {
    const res = await createApp(ctx).handle(new Request('http://localhost/openapi.json'))
    if (!res.ok) throw new Error(`openapi document: HTTP ${res.status}`)
    return JSON.stringify(await res.json(), null, 2) + '\n'
  } finally {
    await ctx.close()
  }
}
