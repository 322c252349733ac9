import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { FedProfileError } from '../shared/errors.js';

export interface MerchantEndpoint {
  /** Coordinator base URL, e.g. https://coordinator.example.com:8443 */
  url: string;
  /** The merchant's enrolment token (read-only scope on the HTTP API). */
  token: string;
  /** PEM CA certificate(s) to trust for a private or self-signed coordinator certificate. */
  ca?: string | Buffer;
  timeoutMs?: number;
}

export interface MerchantResponse { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

/**
 * One request to the coordinator's merchant scope (/api/v1/merchant/...), authenticated with the enrolment
 * token. Uses node:http(s) directly so a private CA can be trusted, as the socket connection does.
 */
export function merchantRequest(ep: MerchantEndpoint, method: 'GET' | 'POST', path: string, body?: unknown): Promise<MerchantResponse> {
  const target = new URL(`/api/v1/merchant${path}`, ep.url);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target, {
      method,
      headers: {
        authorization: `Bearer ${ep.token}`,
        ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.byteLength) } : {}),
      },
      ...(ep.ca && target.protocol === 'https:' ? { ca: ep.ca } : {}),
      timeout: ep.timeoutMs ?? 30_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${target.origin} within ${ep.timeoutMs ?? 30_000} ms`)));
    req.on('error', (e) => reject(new FedProfileError('INTERNAL', `cannot reach the coordinator at ${target.origin}: ${e.message}`)));
    req.end(payload);
  });
}

/** The coordinator's `{ error: { code, message } }` body as a FedProfileError, or the status line. */
export function responseError(r: MerchantResponse, what: string): FedProfileError {
  try {
    const e = (JSON.parse(r.body.toString('utf8')) as { error?: { code?: FedProfileError['code']; message?: string } }).error;
    if (e?.code && e.message) return new FedProfileError(e.code, `${what}: ${e.message}`);
  } catch {
    // not JSON: fall through to the status
  }
  return new FedProfileError('INTERNAL', `${what}: HTTP ${r.status}`);
}

export async function merchantJson<T>(ep: MerchantEndpoint, method: 'GET' | 'POST', path: string, what: string, body?: unknown): Promise<T> {
  const r = await merchantRequest(ep, method, path, body);
  if (r.status < 200 || r.status >= 300) throw responseError(r, what);
  return (r.body.byteLength ? JSON.parse(r.body.toString('utf8')) : {}) as T;
}

export interface MerchantFederationInfo {
  federationId: string; name: string; status: string; completedRounds: number; rounds: number | null;
  modelRound: number; modelHash: string; keyCheck: string | null;
}
