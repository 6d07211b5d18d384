/**
 * Regenerates asyncapi/asyncapi.json and asyncapi/asyncapi.yaml from the event catalog (`npm run asyncapi`).
 * `--stdout json|yaml` prints one of them instead (the drift test renders them in a fresh process this way).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { renderAsyncApi } from '../src/events/asyncapi.ts'

const i = process.argv.indexOf('--stdout')
if (i >= 0) {
  const format = process.argv[i + 1]
  if (format !== 'json' && format !== 'yaml') {
    console.error('usage: bun scripts/dump-asyncapi.ts [--stdout json|yaml]')
    process.exit(2)
  }
  process.stdout.write(renderAsyncApi(format))
} else {
  const dir = join(import.meta.dir, '..', 'asyncapi')
  mkdirSync(dir, { recursive: true })
  for (const format of ['json', 'yaml'] as const) {
    writeFileSync(join(dir, `asyncapi.${format}`), renderAsyncApi(format))
    console.log(`wrote asyncapi/asyncapi.${format}`)
  }
}
