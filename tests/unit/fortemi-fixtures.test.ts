/**
 * Upstream Fortemi's event fixtures validate against our AsyncAPI document (docs/asyncapi.md). The fixtures are
 * upstream's files and are not in this repository: set FORTEMI_FIXTURES_DIR to a folder of them (extracted from an
 * upstream checkout) to run this; without it the test is skipped. The envelopes of the same shape written for this
 * repository (tests/unit/asyncapi.test.ts) run everywhere.
 */
import { describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { basename } from 'node:path'
import { checkFixtures, EMITTED_EVENT_TYPES, fixtureFiles } from '../../scripts/check-fortemi-fixtures.ts'

const dir = process.env.FORTEMI_FIXTURES_DIR
if (!dir) console.log('fortemi-fixtures: FORTEMI_FIXTURES_DIR is not set, upstream event fixtures not checked (see docs/asyncapi.md)')

describe.skipIf(!dir)('upstream Fortemi event fixtures (FORTEMI_FIXTURES_DIR)', () => {
  const results = dir && existsSync(dir) ? checkFixtures(fixtureFiles(dir)) : []

  test('the folder holds a fixture for every event type this server emits', () => {
    expect(dir && existsSync(dir)).toBeTruthy()
    const covered = new Set(results.map((r) => r.eventType))
    expect(EMITTED_EVENT_TYPES.filter((et) => !covered.has(et))).toEqual([])
  })

  for (const r of results.filter((r) => r.status !== 'SKIP'))
    test(`${basename(r.file)} (${r.eventType}) validates against the document`, () => {
      expect(r.problems).toEqual([])
    })
})
