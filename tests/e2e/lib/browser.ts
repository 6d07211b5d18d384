/**
 * Headless Debian Chromium through playwright-core, for end-to-end tests.
 *
 * `chromium.launch` gives every browser a fresh, temporary user-data-dir (Playwright creates it and
 * removes it on close; it refuses a `--user-data-dir` argument), so no profile state leaks between runs.
 */
import { existsSync } from 'node:fs'
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core'

export const CHROMIUM_BIN = '/usr/bin/chromium'
// Both prerequisite checks are available from here (and nginxAvailable from nginx.ts).
export { nginxAvailable } from './nginx.ts'

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_BIN)
}

export async function launchBrowser(): Promise<Browser> {
  if (!chromiumAvailable()) throw new Error(`${CHROMIUM_BIN} not found (apt-get install -y chromium)`)
  return chromium.launch({ executablePath: CHROMIUM_BIN, args: ARGS, timeout: 30_000 })
}

export interface ConsoleRecord {
  type: string
  text: string
}

/** Records a page's console messages and uncaught errors (as type `pageerror`) from now on. */
export function recordConsole(page: Page): ConsoleRecord[] {
  const out: ConsoleRecord[] = []
  page.on('console', (m: ConsoleMessage) => void out.push({ type: m.type(), text: m.text() }))
  page.on('pageerror', (e: Error) => void out.push({ type: 'pageerror', text: String(e) }))
  return out
}
