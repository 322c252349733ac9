import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import { FedProfileError, type ErrorCode } from '../shared/errors.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  BAD_INPUT: 400, BAD_CONFIG: 400, BAD_DATA_FILE: 400, UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404,
  CONFLICT: 409, PAYLOAD_TOO_LARGE: 413, PROTOCOL: 400, INTEGRITY: 500, INTERNAL: 500,
};

export function httpStatusOf(code: ErrorCode): number { return STATUS[code] ?? 500; }

/** Turns a zod error into one BAD_INPUT error whose message names every bad field by its path. */
export function fromZod(err: z.ZodError, where: string): FedProfileError {
  const issues = err.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
  return new FedProfileError('BAD_INPUT', `invalid ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
}

/** What body-parser (its `type`) and the router (URIError, `status`) throw for a client's mistake. */
interface HttpLibraryError { type?: unknown; code?: unknown; status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown }

const BODY_ERRORS: Record<string, { status: number; code: ErrorCode; message: string }> = {
  'entity.parse.failed': { status: 400, code: 'BAD_INPUT', message: 'request body is not valid JSON' },
  'entity.too.large': { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'request body is too large' },
  'entity.verify.failed': { status: 400, code: 'BAD_INPUT', message: 'request body failed verification' },
  'encoding.unsupported': { status: 415, code: 'BAD_INPUT', message: 'unsupported Content-Encoding; send identity, gzip or deflate' },
  'charset.unsupported': { status: 415, code: 'BAD_INPUT', message: 'unsupported charset; send UTF-8' },
  'request.aborted': { status: 400, code: 'BAD_INPUT', message: 'request was aborted before its body arrived' },
  'request.size.invalid': { status: 400, code: 'BAD_INPUT', message: 'request body length does not match Content-Length' },
  'parameters.too.many': { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'too many parameters' },
};

/**
 * Maps an error from express or body-parser to a client error, or undefined when it is ours to fix. A
 * body that claims an encoding it does not have (gzip that is not gzip) is a 415 too: the server cannot
 * decode what it was sent.
 */
export function clientErrorOf(err: unknown): { status: number; error: FedProfileError } | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as HttpLibraryError;
  const known = typeof e.type === 'string' ? BODY_ERRORS[e.type] : undefined;
  if (known) return { status: known.status, error: new FedProfileError(known.code, known.message) };
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (err instanceof URIError || (status === 400 && /decode/i.test(String(e.message)))) {
    return { status: 400, error: new FedProfileError('BAD_INPUT', 'malformed percent-encoding in the request path') };
  }
  // body-parser passes the decompressor's own error on (with status 400): Z_DATA_ERROR from zlib, ERR__… from brotli
  if (typeof e.code === 'string' && /^Z_|^ERR__|ZLIB|BROTLI/i.test(e.code)) {
    return { status: 415, error: new FedProfileError('BAD_INPUT', 'request body does not decode with its Content-Encoding') };
  }
  if (status !== undefined && status >= 400 && status < 500 && e.expose === true) {
    return { status, error: new FedProfileError(status === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_INPUT', String(e.message)) };
  }
  return undefined;
}

/** Express error handler: every failure becomes `{ error: { code, message, details? } }` with a fitting status. */
export function errorHandler(log: (e: unknown) => void) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    let fe: FedProfileError;
    let status: number | undefined;
    const client = clientErrorOf(err);
    if (err instanceof FedProfileError) fe = err;
    else if (err instanceof z.ZodError) fe = fromZod(err, 'request');
    else if (client) { fe = client.error; status = client.status; }
    else {
      log(err);
      fe = new FedProfileError('INTERNAL', 'internal error; see the coordinator log');
    }
    if (res.headersSent) { res.end(); return; }
    res.status(status ?? httpStatusOf(fe.code)).json({ error: fe.toJSON() });
  };
}
