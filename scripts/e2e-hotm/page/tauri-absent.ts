/**
 * Stand-in for `@tauri-apps/api/core`, `@tauri-apps/api/event` and `@tauri-apps/plugin-http` in the
 * harness bundle. HotM imports them dynamically and only inside Tauri (`isTauri()`); the harness page is a
 * plain browser page, so reaching any of these is a harness error and says so.
 */
function notInTauri(): never {
  throw new Error('e2e-hotm harness: a Tauri API was called, but the page does not run inside Tauri')
}

export async function invoke(): Promise<never> {
  notInTauri()
}

export async function listen(): Promise<never> {
  notInTauri()
}

export async function fetch(): Promise<never> {
  notInTauri()
}
