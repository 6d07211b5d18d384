/**
 * End-to-end tests need /usr/bin/chromium and /usr/sbin/nginx. In CI (`CI=true`) a missing one is a
 * failure, never a skip (.ci/run installs both); locally the tests are skipped with a message saying
 * what to install.
 */
import { describe, test } from 'bun:test'
import { chromiumAvailable } from './browser.ts'
import { nginxAvailable } from './nginx.ts'

export function missingPrerequisites(): string[] {
  return [...(chromiumAvailable() ? [] : ['chromium (/usr/bin/chromium)']), ...(nginxAvailable() ? [] : ['nginx (/usr/sbin/nginx)'])]
}

/** `describe` when chromium and nginx are present; otherwise a failing test in CI, a skip locally. */
export function describeE2E(name: string, fn: () => void): void {
  const missing = missingPrerequisites()
  if (missing.length === 0) return describe(name, fn)
  const message = `end-to-end tests need ${missing.join(' and ')}: apt-get install -y chromium nginx`
  if (process.env.CI === 'true') {
    describe(name, () => {
      test('prerequisites are installed', () => {
        throw new Error(message)
      })
    })
    return
  }
  console.warn(`skipping "${name}": ${message}`)
  describe.skip(name, fn)
}
