/**
 * Types of the HotM modules the harness page imports. The modules themselves come from a HotM checkout at
 * bundle time (scripts/e2e-hotm/build.ts maps `@/` to `<checkout>/ui/src/`); these declarations only let the
 * harness type-check without that checkout. They list what the harness uses, as HotM defines it.
 */
declare module '@/services/realtimeEventBus' {
  export interface RealtimeEvent {
    type: string
    raw_event_type?: string
    payload_type?: string
    raw_event?: Record<string, unknown>
    event_id?: string
    [field: string]: unknown
  }
  export const realtimeEventBus: {
    subscribe(handler: (event: RealtimeEvent) => void): () => void
  }
}

declare module '@/services/websocket' {
  export interface QueueStatus {
    total_jobs: number
    running: number
    pending: number
  }
  export interface UseWebSocketState {
    connected: boolean
    connectionState?: string
    transportMode?: string
    replayCursor?: string | null
    queueStatus: QueueStatus
    isQueueStalled: boolean
    lastResyncAt?: number
  }
  export function useWebSocket(): UseWebSocketState
  const webSocketService: {
    getReplayCursor(): string | null
    getTransportMode(): string
    getConnectionState(): string
  }
  export default webSocketService
}

declare module '@/lib/tauri' {
  export function getCachedConfig(): { api_base_url: string } | null
}

declare module '@/lib/runtime-config' {
  export function getRuntimeConfig(key: string): string | undefined
}

declare module '@/api/client' {
  export interface ApiClient {
    baseUrl: string
    setMutationGate(gate: (() => Promise<void>) | null): void
  }
  export function createApiClient(baseUrl: string): ApiClient
}

declare module '@/api/events' {
  export function createEventsClient(baseUrl: string): { close(): void }
}

declare module '@/api/systemCompatibility' {
  import type { ApiClient } from '@/api/client'
  export interface CompatibilitySnapshot {
    state: string
    response: Record<string, unknown> | null
    error: (Error & { code?: string }) | null
  }
  export interface SystemCompatibilityApi {
    get(): Promise<Record<string, unknown>>
  }
  export function createSystemCompatibilityApi(client: ApiClient): SystemCompatibilityApi
  export function createCompatibilityAdmissionGate(api: SystemCompatibilityApi): {
    preflight(): Promise<Record<string, unknown>>
    requireRemoteMutation(): Promise<void>
    getSnapshot(): CompatibilitySnapshot
  }
}

declare module '@/api/memory-context' {
  export function getActiveMemory(): string | null
  export function setActiveMemory(memory: string | null): void
  export function clearActiveMemory(): void
}

declare module '@/api/auth-context' {
  export function getActiveTenantId(): string | null
  export function setActiveTenantId(tenantId: string | null): void
  export function getApiBearerToken(): string | null
  export function setApiBearerToken(token: string | null): void
}

declare module '@/api/jobs' {
  import type { ApiClient } from '@/api/client'
  export interface JobPauseState {
    global: string
    archives: Record<string, string>
    queue?: { pending: number; running: number }
  }
  export interface JobPauseActionResponse {
    status: string
    scope: string
    archive?: string
  }
  export function createJobsApi(client: ApiClient): {
    getPauseStatus(): Promise<JobPauseState>
    pauseGlobal(): Promise<JobPauseActionResponse>
    resumeGlobal(): Promise<JobPauseActionResponse>
    pauseArchive(archive: string): Promise<JobPauseActionResponse>
    resumeArchive(archive: string): Promise<JobPauseActionResponse>
  }
}
