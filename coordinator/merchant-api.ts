import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { FedProfileError } from '../shared/errors.js';
import { MODEL_JSON, WEIGHTS_BIN } from '../shared/weights/artifacts.js';
import type { CheckpointStore } from './checkpoints.js';
import { fromZod } from './http-errors.js';
import type { FederationRuntime } from './runtime/federation-runtime.js';
import type { CoordinatorStore } from './store/store.js';

export interface MerchantApiDeps {
  store: CoordinatorStore;
  checkpoints: CheckpointStore;
  runtime(id: string): FederationRuntime | undefined;
}

/** Audit actions that carry merchant-reported state (the audit log is append-only, so the first pin wins). */
export const KEY_CHECK_ACTION = 'federation.key-check';
export const KEY_CHECK_RESET_ACTION = 'federation.key-check-reset';
export const CLIENT_ERROR_ACTION = 'client.error';

interface MerchantScope { federationId: string; tokenId: string; clientId: string | null }

const KeyCheckSchema = z.strictObject({ keyCheck: z.string().regex(/^[0-9a-f]{16}$/, 'expected 16 hex digits') });
const ClientErrorSchema = z.strictObject({
  stage: z.enum(['data', 'training', 'evaluation', 'profile']),
  message: z.string().min(1).max(1000),
});

/** Sets `Content-Disposition` so a browser or `curl -OJ` saves model.json and weights.bin under those names. */
export function downloadHeaders(res: Response, file: string): void {
  res.type(file === MODEL_JSON ? 'application/json' : 'application/octet-stream');
  res.attachment(file);
}

/** The key check value pinned for a federation by its first merchant (since the operator's last reset), if any. */
export function pinnedKeyCheck(store: CoordinatorStore, federationId: string): string | undefined {
  const reset = store.listAuditFor(federationId, KEY_CHECK_RESET_ACTION, 1, 'newest')[0];
  const entry = store.listAuditFor(federationId, KEY_CHECK_ACTION, 1, 'oldest', reset?.id ?? 0)[0];
  const v = (entry?.details as { keyCheck?: unknown } | null)?.keyCheck;
  return typeof v === 'string' ? v : undefined;
}

/**
 * The merchant scope of the API, authenticated with an enrolment token rather than the admin token: read-only
 * access to the merchant's own federation (status, global model files) plus two small reports a client makes
 * about itself (its hash key check value and its own errors). Nothing here can change the federation.
 */
export function merchantRouter(deps: MerchantApiDeps): Router {
  const r = express.Router();
  const scope = (req: Request): MerchantScope => (req as Request & { merchant: MerchantScope }).merchant;
  r.use((req: Request, _res: Response, next: NextFunction) => {
    const m = /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '');
    if (!m) return next(new FedProfileError('UNAUTHORIZED', 'missing "Authorization: Bearer <enrolment token>" header'));
    const token = deps.store.findToken(m[1]!.trim());
    if (!token) return next(new FedProfileError('UNAUTHORIZED', 'unknown enrolment token; ask the operator for a valid one'));
    if (token.revoked) return next(new FedProfileError('FORBIDDEN', 'this enrolment token was revoked'));
    (req as Request & { merchant: MerchantScope }).merchant = { federationId: token.federationId, tokenId: token.id, clientId: token.clientId };
    next();
  });
  const runtimeOf = (req: Request): FederationRuntime => {
    const rt = deps.runtime(scope(req).federationId);
    if (!rt) throw new FedProfileError('NOT_FOUND', `federation ${scope(req).federationId} is not loaded on this coordinator`);
    return rt;
  };

  r.get('/federation', (req, res) => {
    const rt = runtimeOf(req);
    const row = deps.store.getFederation(rt.id)!;
    res.json({
      federationId: rt.id, name: row.name, status: row.status, completedRounds: row.completedRounds,
      rounds: (row.config as { rounds?: number }).rounds ?? null, modelRound: rt.model.round, modelHash: rt.model.hash,
      keyCheck: pinnedKeyCheck(deps.store, rt.id) ?? null,
    });
  });

  for (const file of [MODEL_JSON, WEIGHTS_BIN]) {
    r.get(`/model/:round/${file}`, async (req, res) => {
      const rt = runtimeOf(req);
      const raw = String(req.params.round);
      const round = raw === 'latest' ? rt.model.round : Number(raw);
      if (!Number.isInteger(round) || round < 0) throw new FedProfileError('BAD_INPUT', `round must be a non-negative integer or "latest", got "${raw}"`);
      if (round !== 0 && deps.store.getRound(rt.id, round)?.status !== 'completed') {
        throw new FedProfileError('NOT_FOUND', `round ${round} of ${rt.id} has no completed model`);
      }
      const bytes = await readFile(join(deps.checkpoints.dir(rt.id, round), file)).catch(() => {
        throw new FedProfileError('NOT_FOUND', `checkpoint file ${file} of round ${round} is missing`);
      });
      res.set('X-Fedprofile-Round', String(round));
      downloadHeaders(res, file);
      res.send(bytes);
    });
  }

  r.post('/key-check', (req, res) => {
    const parsed = KeyCheckSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw fromZod(parsed.error, 'key check');
    const { federationId, clientId } = scope(req);
    const pinned = pinnedKeyCheck(deps.store, federationId);
    if (pinned === undefined) {
      deps.store.audit(`client:${clientId ?? 'unenrolled'}`, KEY_CHECK_ACTION, federationId, { keyCheck: parsed.data.keyCheck });
    } else if (pinned !== parsed.data.keyCheck) {
      throw new FedProfileError('CONFLICT', `the hash key does not match the federation's (key check ${parsed.data.keyCheck} ≠ ${pinned}); use the key the other merchants use`, { keyCheck: parsed.data.keyCheck, expected: pinned });
    }
    res.json({ keyCheck: pinned ?? parsed.data.keyCheck, pinned: pinned === undefined });
  });

  r.post('/errors', (req, res) => {
    const parsed = ClientErrorSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw fromZod(parsed.error, 'client error report');
    const { federationId, clientId, tokenId } = scope(req);
    deps.store.audit(`client:${clientId ?? 'unenrolled'}`, CLIENT_ERROR_ACTION, federationId, { clientId, tokenId, ...parsed.data });
    res.status(204).end();
  });
  return r;
}

/** Each client's latest self-reported error (from the audit log), for the operator's client list. */
export function lastClientErrors(store: CoordinatorStore, federationId: string): Map<string, { at: number; stage: string; message: string }> {
  const out = new Map<string, { at: number; stage: string; message: string }>();
  for (const e of store.listAuditFor(federationId, CLIENT_ERROR_ACTION, 1000, 'newest')) {
    const d = e.details as { clientId?: string | null; stage?: string; message?: string } | null;
    if (d?.clientId && !out.has(d.clientId)) out.set(d.clientId, { at: e.at, stage: d.stage ?? 'unknown', message: d.message ?? '' });
  }
  return out;
}

/** The operator's way out when the first merchant pinned a mistyped key: the next merchant to connect pins anew. */
export function resetKeyCheck(store: CoordinatorStore, federationId: string): { previous: string | null } {
  const previous = pinnedKeyCheck(store, federationId) ?? null;
  store.audit('admin', KEY_CHECK_RESET_ACTION, federationId, { previous });
  return { previous };
}
