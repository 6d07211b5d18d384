/**
 * Regenerates openapi/openapi.json from the route schemas (`npm run openapi`).
 * `--stdout` prints the document instead (the drift test renders it in a fresh process this way).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { renderOpenApi } from '../src/openapi.ts'

const toStdout = process.argv.includes('--stdout')
const dir = mkdtempSync(join(tmpdir(), 'matric-openapi-'))
try {
  const text = await renderOpenApi(dir)
  if (toStdout) {
    process.stdout.write(text)
  } else {
    mkdirSync(join(import.meta.dir, '..', 'openapi'), { recursive: true })
    writeFileSync(join(import.meta.dir, '..', 'openapi', 'openapi.json'), text)
    console.log('wrote openapi/openapi.json')
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
