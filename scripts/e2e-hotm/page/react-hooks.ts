/**
 * Stand-in for the `react` module inside the harness bundle: just enough of `useState` and `useEffect`
 * to run HotM's own `useWebSocket` hook unchanged, mounted once as if by one component. HotM's realtime
 * modules import only these two hooks (services/websocket.ts, lib/tauri.ts); pulling React and react-dom
 * into the bundle would add a renderer the harness has nothing to render with.
 *
 * Semantics kept from React that the hook relies on: state persists across renders, a setter given a
 * function receives the latest state, setters schedule one re-render (batched in a microtask), effects run
 * after the render whose deps changed and their cleanup runs before the next run or on unmount.
 */

type EffectSlot = { deps: readonly unknown[] | undefined; cleanup: (() => void) | undefined }

const slots: unknown[] = []
let cursor = 0
let pending: (() => void)[] = []
let component: (() => void) | null = null
let scheduled = false

function schedule(): void {
  if (scheduled || !component) return
  scheduled = true
  queueMicrotask(() => {
    scheduled = false
    component?.()
  })
}

export function useState<T>(initial: T | (() => T)): [T, (next: T | ((prev: T) => T)) => void] {
  const i = cursor++
  if (!(i in slots)) slots[i] = typeof initial === 'function' ? (initial as () => T)() : initial
  const set = (next: T | ((prev: T) => T)): void => {
    const value = typeof next === 'function' ? (next as (prev: T) => T)(slots[i] as T) : next
    if (Object.is(value, slots[i])) return
    slots[i] = value
    schedule()
  }
  return [slots[i] as T, set]
}

function depsChanged(prev: readonly unknown[] | undefined, next: readonly unknown[] | undefined): boolean {
  if (!prev || !next || prev.length !== next.length) return true
  return next.some((d, k) => !Object.is(d, prev[k]))
}

export function useEffect(effect: () => void | (() => void), deps?: readonly unknown[]): void {
  const i = cursor++
  const prev = slots[i] as EffectSlot | undefined
  if (prev && !depsChanged(prev.deps, deps)) return
  pending.push(() => {
    prev?.cleanup?.()
    const cleanup = effect()
    slots[i] = { deps, cleanup: typeof cleanup === 'function' ? cleanup : undefined }
  })
  // Keep the slot occupied during this render so the hook order stays stable.
  if (!prev) slots[i] = { deps: undefined, cleanup: undefined }
}

/** Mounts `hook` as the one component; `onRender` receives every rendered value. Returns unmount. */
export function mountHook<T>(hook: () => T, onRender: (value: T) => void): () => void {
  component = () => {
    cursor = 0
    const value = hook()
    const effects = pending
    pending = []
    onRender(value)
    for (const run of effects) run()
  }
  component()
  return () => {
    component = null
    for (const slot of slots) {
      const s = slot as Partial<EffectSlot> | undefined
      if (s && typeof s === 'object' && 'cleanup' in s) s.cleanup?.()
    }
  }
}
