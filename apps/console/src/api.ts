// SPDX-License-Identifier: Apache-2.0
/**
 * Every call the console makes goes through here, to the controller's REST API
 * with the API token as a Bearer header. The token lives only in this module's
 * memory: never in a URL, a cookie the page can read, or storage; a reload
 * signs out.
 */
let token: string | null = null;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: { title?: string; detail?: string; failures?: unknown[]; issues?: unknown[]; [k: string]: unknown },
  ) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
  }
}

export function signIn(t: string): void {
  token = t.trim() || null;
}
export function signOut(): void {
  token = null;
}
export const signedIn = () => token !== null;

/** The Authorization header of the signed-in token (the event stream sends it too). */
export const authHeaders = (): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

export async function call<T = any>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...authHeaders() };
  let payload: string | undefined;
  if (body !== undefined) {
    headers['content-type'] = contentType;
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const r = await fetch(path, { method, headers, body: payload, credentials: 'omit', cache: 'no-store' });
  const text = await r.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    /* plain text (/metrics) */
  }
  if (!r.ok) throw new ApiError(r.status, typeof parsed === 'object' && parsed ? (parsed as ApiError['problem']) : { title: String(parsed) });
  return parsed as T;
}

export const get = <T = any>(path: string) => call<T>('GET', path);

/** The controller's own metrics (public text): the counters the map and matrix draw. */
export async function metricsText(): Promise<string> {
  const r = await fetch('/metrics', { credentials: 'omit', cache: 'no-store' });
  return r.ok ? r.text() : '';
}
