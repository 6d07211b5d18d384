/**
 * Stand-in for HotM's `@/api` (ui/src/api/index.ts) inside the harness bundle. The real index wires about
 * thirty feature modules (notes, search, attachments, …); the realtime path uses only `api.compatibilityGate`
 * and the auth/memory context re-exports. This module builds those exactly the way `createApi()` does, from
 * HotM's own, unchanged modules: `createApiClient(baseUrl)` → `createSystemCompatibilityApi(client)` →
 * `createCompatibilityAdmissionGate(...)`, with the gate installed as the client's mutation gate.
 */
import { getCachedConfig } from '@/lib/tauri'
import { getRuntimeConfig } from '@/lib/runtime-config'
import { createApiClient } from '@/api/client'
import { createEventsClient } from '@/api/events'
import { createCompatibilityAdmissionGate, createSystemCompatibilityApi } from '@/api/systemCompatibility'

export { getActiveMemory, setActiveMemory, clearActiveMemory } from '@/api/memory-context'
export { getActiveTenantId, getApiBearerToken, setActiveTenantId, setApiBearerToken } from '@/api/auth-context'

/** Same precedence as HotM's index.ts: Tauri config, runtime config, build-time env, same origin. */
function getApiBaseUrl(): string {
  const tauriConfig = getCachedConfig()
  if (tauriConfig?.api_base_url) return tauriConfig.api_base_url
  const runtimeUrl = getRuntimeConfig('VITE_API_BASE_URL')
  if (runtimeUrl) return runtimeUrl
  const envUrl = import.meta.env.VITE_API_BASE_URL
  if (envUrl) return envUrl
  return `${(globalThis as unknown as { location: { origin: string } }).location.origin}/api/v1`
}

export function createApi(baseUrl?: string) {
  const url = baseUrl || getApiBaseUrl()
  const client = createApiClient(url)
  const systemCompatibility = createSystemCompatibilityApi(client)
  const compatibilityGate = createCompatibilityAdmissionGate(systemCompatibility)
  client.setMutationGate(() => compatibilityGate.requireRemoteMutation())
  return { client, systemCompatibility, compatibilityGate, events: createEventsClient(url) }
}

export let api = createApi()

export function reinitializeApi(baseUrl?: string): void {
  api = createApi(baseUrl)
}
