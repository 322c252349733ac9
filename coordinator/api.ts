import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { FedProfileError } from '../shared/errors.js';
import { MODEL_JSON, WEIGHTS_BIN } from '../shared/weights/index.js';
import type { CheckpointStore } from './checkpoints.js';
import { FederationConfigSchema, jsonDeeperThan, MAX_JSON_DEPTH } from './federation-config.js';
import { federationConfigProblems } from './federation-rules.js';
import { fromZod } from './http-errors.js';
import { downloadHeaders, lastClientErrors, merchantRouter, resetKeyCheck } from './merchant-api.js';
import { openApiDocument } from './openapi.js';
import type { FederationRuntime } from './runtime/federation-runtime.js';
import type { CoordinatorStore } from './store/store.js';

export interface ApiDeps {
  store: CoordinatorStore;
  checkpoints: CheckpointStore;
  adminToken: string;
  runtime(id: string): FederationRuntime | undefined;
  /** Validates the whole config first (see validateFederationConfig); nothing is written for a bad one. */
  createFederation(config: unknown): Promise<FederationRuntime>;
  isOnline(clientId: string): boolean;
  /** When a connected client was last heard from (more recent than the stored lastSeenAt). */
  lastSeen?(clientId: string): number | undefined;
  /** Closes the runtime, disconnects its clients, removes its rows and checkpoints. */
  deleteFederation?(id: string): Promise<void>;
  /** Federations that could not be loaded (corrupt checkpoint, bad stored config): id → why. */
  unavailable(): ReadonlyMap<string, UnavailableFederation>;
  /** Ends the live sessions of a revoked token at once. */
  disconnectToken(tokenId: string): number;
}

/** A federation the coordinator could not load; only it is affected, the others run. */
export interface UnavailableFederation {
  id: string; name: string; status: 'needs-attention'; code: string; file: string | null; reason: string; at: number;
}

const sha = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Bearer admin token check: 401 when missing, 403 when wrong (compared in constant time). */
function requireAdmin(adminToken: string) {
  const expected = sha(adminToken);
  return (req: Request, _res: Response, next: NextFunction): void => {
    const h = req.get('authorization');
    if (!h) return next(new FedProfileError('UNAUTHORIZED', 'missing "Authorization: Bearer <admin token>" header'));
    const m = /^Bearer\s+(.+)$/i.exec(h);
    if (!m) return next(new FedProfileError('UNAUTHORIZED', 'the Authorization header must be "Bearer <admin token>"'));
    if (!timingSafeEqual(sha(m[1]!.trim()), expected)) return next(new FedProfileError('FORBIDDEN', 'the admin token is not valid'));
    next();
  };
}

const TokenRequestSchema = z.strictObject({ label: z.string().max(200).optional() });

export function apiRouter(deps: ApiDeps): Router {
  const r = express.Router();
  r.get('/openapi.json', (_req, res) => { res.json(openApiDocument()); });
  r.use('/merchant', merchantRouter(deps));
  r.use(requireAdmin(deps.adminToken));

  const fed = (req: Request): FederationRuntime => {
    const id = String(req.params.id);
    const rt = deps.runtime(id);
    if (rt) return rt;
    const down = deps.unavailable().get(id);
    if (down) throw new FedProfileError('CONFLICT', `federation ${id} needs attention and is not running: ${down.reason}`, { file: down.file, reason: down.reason });
    throw new FedProfileError('NOT_FOUND', `no federation with id "${id}"`);
  };
  const describe = (rt: FederationRuntime) => {
    const row = deps.store.getFederation(rt.id)!;
    return {
      id: row.id, name: row.name, status: row.status, statusReason: row.statusReason, config: row.config, completedRounds: row.completedRounds,
      lastRound: row.lastRound, modelHash: row.modelHash, parameters: rt.model.manifest.totalSize,
      live: rt.snapshot(), roundProgress: rt.roundProgress() ?? null, attention: rt.attention ?? null, privacy: rt.privacy(),
      archivedAt: row.archivedAt, createdAt: row.createdAt, updatedAt: row.updatedAt,
    };
  };
  const describeDown = (d: UnavailableFederation): Record<string, unknown> => {
    const row = deps.store.getFederation(d.id);
    return {
      id: d.id, name: d.name, status: d.status, config: row?.config ?? null, completedRounds: row?.completedRounds ?? null,
      lastRound: row?.lastRound ?? null, modelHash: row?.modelHash ?? null, parameters: null, live: null, privacy: null,
      attention: { code: d.code, file: d.file, reason: d.reason, at: d.at }, archivedAt: row?.archivedAt ?? null,
      createdAt: row?.createdAt ?? null, updatedAt: row?.updatedAt ?? null,
    };
  };
  /** Archiving and deleting are for federations that no round can be running in. */
  const requireIdle = (rt: FederationRuntime, doing: string): void => {
    const { status } = rt.snapshot();
    if (status === 'running') throw new FedProfileError('CONFLICT', `cannot ${doing} a running federation; pause or stop it first`);
  };

  r.post('/federations', async (req, res) => {
    // Before any schema walk: a hostile body nested 60k deep gets a 400, not a stack overflow.
    if (jsonDeeperThan(req.body, MAX_JSON_DEPTH)) {
      throw new FedProfileError('BAD_INPUT', `invalid federation config: (root): nests deeper than ${MAX_JSON_DEPTH} levels`);
    }
    const parsed = FederationConfigSchema.safeParse(req.body);
    if (!parsed.success) throw fromZod(parsed.error, 'federation config');
    const problems = federationConfigProblems(parsed.data);
    if (problems.length > 0) {
      throw new FedProfileError('BAD_INPUT', `invalid federation config: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { issues: problems });
    }
    const rt = await deps.createFederation(req.body);
    res.status(201).json(describe(rt));
  });
  r.get('/federations', (req, res) => {
    const archived = String(req.query.archived ?? 'exclude');
    if (!['exclude', 'include', 'only'].includes(archived)) {
      throw new FedProfileError('BAD_INPUT', `archived must be "exclude", "include" or "only", got "${archived}"`);
    }
    const down = deps.unavailable();
    res.json({
      federations: deps.store.listFederations()
        .filter((f) => (archived === 'include' ? true : archived === 'only' ? f.archivedAt !== null : f.archivedAt === null))
        .flatMap((f): Array<Record<string, unknown>> => {
          const rt = deps.runtime(f.id);
          if (rt) return [describe(rt)];
          const d = down.get(f.id);
          return d ? [describeDown(d)] : [];
        }),
    });
  });
  r.delete('/federations/:id', async (req, res) => {
    const rt = fed(req);
    requireIdle(rt, 'delete');
    if (!deps.deleteFederation) throw new FedProfileError('INTERNAL', 'this coordinator cannot delete federations');
    await deps.deleteFederation(rt.id);
    deps.store.audit('admin', 'federation.delete', rt.id, { name: rt.config.name });
    res.json({ deleted: true, id: rt.id });
  });
  for (const archive of [true, false]) {
    r.post(`/federations/:id/${archive ? 'archive' : 'unarchive'}`, (req, res) => {
      const rt = fed(req);
      const row = deps.store.getFederation(rt.id)!;
      if ((row.archivedAt !== null) === archive) throw new FedProfileError('CONFLICT', `federation ${rt.id} is ${archive ? 'already' : 'not'} archived`);
      if (archive) requireIdle(rt, 'archive');
      deps.store.setArchived(rt.id, archive);
      deps.store.audit('admin', `federation.${archive ? 'archive' : 'unarchive'}`, rt.id);
      res.json(describe(rt));
    });
  }
  r.get('/federations/:id', (req, res) => {
    const d = deps.unavailable().get(String(req.params.id));
    res.json(d ? describeDown(d) : describe(fed(req)));
  });
  for (const action of ['start', 'pause', 'resume', 'stop'] as const) {
    r.post(`/federations/:id/${action}`, (req, res) => {
      const rt = fed(req);
      const before = rt.snapshot().status;
      if ((action === 'start' || action === 'resume') && deps.store.getFederation(rt.id)!.archivedAt !== null) {
        throw new FedProfileError('CONFLICT', `federation ${rt.id} is archived; unarchive it before you ${action} it`);
      }
      rt.event({ type: action });
      const after = rt.snapshot().status;
      if (before === after && !(action === 'start' && after === 'running')) {
        throw new FedProfileError('CONFLICT', `cannot ${action} a federation that is ${before}`);
      }
      try {
        deps.store.audit('admin', `federation.${action}`, rt.id, { from: before, to: after });
      } catch {
        // The action took effect; a full disk must not turn it into an error (the runtime shows the failure).
      }
      res.json(describe(rt));
    });
  }
  r.get('/federations/:id/rounds', (req, res) => { res.json({ rounds: deps.store.listRounds(fed(req).id) }); });

  const roundOf = (req: Request, rt: FederationRuntime): number => {
    const raw = String(req.params.round);
    if (raw === 'latest') return rt.model.round;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new FedProfileError('BAD_INPUT', `round must be a non-negative integer or "latest", got "${raw}"`);
    return n;
  };
  r.get('/federations/:id/rounds/:round', (req, res) => {
    const rt = fed(req);
    const row = deps.store.getRound(rt.id, roundOf(req, rt));
    if (!row) throw new FedProfileError('NOT_FOUND', `federation ${rt.id} has no round ${String(req.params.round)}`);
    res.json(row);
  });
  for (const file of [MODEL_JSON, WEIGHTS_BIN]) {
    r.get(`/federations/:id/rounds/:round/${file}`, async (req, res) => {
      const rt = fed(req);
      const round = roundOf(req, rt);
      const row = round === 0 ? undefined : deps.store.getRound(rt.id, round);
      if (round !== 0 && row?.status !== 'completed') {
        throw new FedProfileError('NOT_FOUND', `round ${round} of ${rt.id} has no checkpoint (it is ${row?.status ?? 'unknown'})`);
      }
      const recorded = round === 0 ? deps.store.initialModelHash(rt.id) : row?.modelHash;
      if (!recorded) throw new FedProfileError('INTEGRITY', `no recorded hash for round ${round} of ${rt.id}; refusing to serve an unverifiable checkpoint`);
      // Every download is checked against the hash recorded at commit, so a corrupt or swapped file is refused
      // (INTEGRITY, naming the file) instead of being handed to a merchant.
      const { modelJson, weights } = await deps.checkpoints.readVerified(rt.id, round, recorded);
      downloadHeaders(res, file);
      if (file === WEIGHTS_BIN) res.type('application/octet-stream').send(weights);
      else res.type('application/json').send(modelJson);
    });
  }

  r.post('/federations/:id/tokens', (req, res) => {
    const rt = fed(req);
    const parsed = TokenRequestSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw fromZod(parsed.error, 'token request');
    const t = deps.store.issueToken(rt.id, parsed.data.label);
    deps.store.audit('admin', 'token.issue', rt.id, { tokenId: t.id, label: parsed.data.label });
    res.status(201).json({ id: t.id, token: t.token, federationId: rt.id, label: parsed.data.label ?? null });
  });
  r.get('/federations/:id/tokens', (req, res) => { res.json({ tokens: deps.store.listTokens(fed(req).id) }); });
  r.delete('/federations/:id/tokens/:tokenId', (req, res) => {
    const rt = fed(req);
    if (!deps.store.revokeToken(rt.id, String(req.params.tokenId))) {
      throw new FedProfileError('NOT_FOUND', `no active token "${String(req.params.tokenId)}" in federation ${rt.id}`);
    }
    const disconnected = deps.disconnectToken(String(req.params.tokenId));
    deps.store.audit('admin', 'token.revoke', rt.id, { tokenId: req.params.tokenId, disconnected });
    res.json({ revoked: true, disconnected });
  });
  r.get('/federations/:id/clients', (req, res) => {
    const rt = fed(req);
    const progress = rt.roundProgress();
    const reported = lastClientErrors(deps.store, rt.id);
    res.json({
      clients: deps.store.listClients(rt.id).map((c) => {
        const online = deps.isOnline(c.id);
        const seen = online ? deps.lastSeen?.(c.id) : undefined;
        const inRound = progress?.clients[c.id];
        // The newer of a failed round's reason and an error the client reported on its own (bad data, start-up).
        const r = reported.get(c.id);
        const lastError = r && (!c.lastError || (r.at > c.lastError.at && r.message !== c.lastError.message))
          ? { message: r.message, round: null, at: r.at, stage: r.stage }
          : c.lastError ? { ...c.lastError, stage: 'training' } : null;
        return {
          ...c, online, lastSeenAt: Math.max(c.lastSeenAt ?? 0, seen ?? 0) || null, lastError,
          round: inRound ? { round: progress!.round, ...inRound } : null,
        };
      }),
    });
  });
  r.delete('/federations/:id/key-check', (req, res) => { res.json(resetKeyCheck(deps.store, fed(req).id)); });
  r.get('/audit', (req, res) => {
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 100) || 100));
    res.json({ entries: deps.store.listAudit(limit) });
  });
  return r;
}
