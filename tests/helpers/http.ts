export interface RequestInit {
  method?: string
  token?: string
  /** An object is sent as JSON; a string as is. */
  body?: unknown
  headers?: Record<string, string>
}

/** fetch against a base URL with an optional bearer token and JSON body (GET without a body, POST with one). */
export function apiRequest(baseUrl: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(baseUrl + path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  })
}
