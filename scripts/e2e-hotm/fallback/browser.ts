/**
 * Stand-in for tests/e2e/lib/browser.ts (same API: `launchBrowser()`), used by scripts/e2e-hotm.ts only while
 * that module is not on this branch: headless Debian chromium through playwright-core.
 */
import { chromium, type Browser } from 'playwright-core'

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
}
