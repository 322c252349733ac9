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

/** Express error handler: every failure becomes `{ error: { code, message, details? } }` with a fitting status. */
export function errorHandler(log: (e: unknown) => void) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    let fe: FedProfileError;
    if (err instanceof FedProfileError) fe = err;
    else if (err instanceof z.ZodError) fe = fromZod(err, 'request');
    else if (err && typeof err === 'object' && (err as { type?: string }).type === 'entity.parse.failed') {
      fe = new FedProfileError('BAD_INPUT', 'request body is not valid JSON');
    } else if (err && typeof err === 'object' && (err as { type?: string }).type === 'entity.too.large') {
      fe = new FedProfileError('PAYLOAD_TOO_LARGE', 'request body is too large');
    } else {
      log(err);
      fe = new FedProfileError('INTERNAL', 'internal error; see the coordinator log');
    }
    res.status(httpStatusOf(fe.code)).json({ error: fe.toJSON() });
  };
}
