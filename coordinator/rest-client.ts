/**
 * The one client of the coordinator's operator API (/api/v1) for scripts, benchmarks, the demo and tests:
 * status, parsed JSON (when the body is JSON) and raw bytes.
 */
export interface RestResponse {
  status: number;
  json: unknown;
  bytes: Uint8Array;
}

export interface RestOptions {
  body?: unknown;
  /** Bearer token; null sends none. */
  token: string | null;
  /** GETs are retried this many times on a network error (a busy coordinator may reset an idle keep-alive). */
  retries?: number;
}

export async function restCall(base: string, method: string, path: string, opts: RestOptions): Promise<RestResponse> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`${base}/api/v1${path}`, {
        method,
        headers: {
          ...(opts.token !== null ? { authorization: `Bearer ${opts.token}` } : {}),
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
      });
      const bytes = new Uint8Array(await res.arrayBuffer());
      let json: unknown;
      try { json = JSON.parse(new TextDecoder().decode(bytes)); } catch { json = undefined; }
      return { status: res.status, json, bytes };
    } catch (err) {
      if (method !== 'GET' || attempt >= (opts.retries ?? 0) || !(err instanceof TypeError)) throw err;
      await new Promise((r) => setTimeout(r, 250 * (attempt + 1)));
    }
  }
}

/** restCall that expects success: returns the JSON body, or throws naming the call, the status and the body. */
export async function restJson<T = unknown>(base: string, method: string, path: string, opts: RestOptions): Promise<T> {
  const r = await restCall(base, method, path, opts);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${new TextDecoder().decode(r.bytes)}`);
  return r.json as T;
}
