import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { BehaviourEventSchema } from '../../shared/data/events.js';
import { FedProfileError } from '../../shared/errors.js';
import type { ProfileState } from './profile-state.js';

const sha = (s: string): Buffer => createHash('sha256').update(s).digest();

const EventsBodySchema = z.union([BehaviourEventSchema, z.array(BehaviourEventSchema).min(1).max(10_000)]);

const STATUS: Partial<Record<FedProfileError['code'], number>> = { BAD_INPUT: 400, UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404, PAYLOAD_TOO_LARGE: 413 };

/** Rows as CSV with a header line; fields with commas, quotes or newlines are quoted. */
export function toCsv(rows: ReadonlyArray<Record<string, string | number | boolean>>, columns: readonly string[]): string {
  const cell = (v: unknown): string => {
    const s = String(v ?? '');
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return `${[columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\n')}\n`;
}

const wantsCsv = (req: Request): boolean =>
  req.query.format === 'csv' || (req.query.format === undefined && (req.get('accept') ?? '').split(',')[0]!.trim().startsWith('text/csv'));

/**
 * The merchant-side profile service: profiles, segments and event ingestion over HTTP for the merchant's own
 * systems (campaign tools, the shop front end). Bearer-token auth on everything but /healthz. It holds raw
 * events and ids, so it binds to the merchant's network only; it never talks to the coordinator itself.
 */
export function profileServiceApp(state: ProfileState, opts: { authToken: string; onRefresh?: (ms: number, users: number) => void }): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => { res.json({ status: 'ok', users: state.users, modelRound: state.modelRound ?? null }); });
  const expected = sha(opts.authToken);
  app.use((req: Request, _res: Response, next: NextFunction) => {
    const m = /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '');
    if (!m) return next(new FedProfileError('UNAUTHORIZED', 'missing "Authorization: Bearer <service token>" header'));
    if (!timingSafeEqual(sha(m[1]!.trim()), expected)) return next(new FedProfileError('FORBIDDEN', 'the service token is not valid'));
    next();
  });
  app.use(express.json({ limit: '5mb' }));

  app.get('/profiles/:userId', (req, res) => { res.type('application/json').send(state.profileJson(String(req.params.userId))); });

  app.post('/events', async (req, res) => {
    const parsed = EventsBodySchema.safeParse(req.body);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new FedProfileError('BAD_INPUT', `invalid event: ${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    }
    const batch = Array.isArray(parsed.data) ? parsed.data : [parsed.data];
    const t0 = performance.now();
    const r = await state.addEvents(batch);
    const refreshMs = performance.now() - t0;
    opts.onRefresh?.(refreshMs, r.users);
    res.status(202).json({ accepted: batch.length, usersRefreshed: r.users, refreshMs: +refreshMs.toFixed(2) });
  });

  app.get('/segments', (req, res) => {
    const segs = state.segments();
    if (wantsCsv(req)) res.type('text/csv').send(toCsv(segs as never, ['segment', 'label', 'users']));
    else res.json({ segments: segs });
  });

  app.get('/segments/:id/users', (req, res) => {
    const id = Number(req.params.id);
    if (!Number.isInteger(id) || id < 0) throw new FedProfileError('BAD_INPUT', `segment id must be a non-negative integer, got "${String(req.params.id)}"`);
    const users = state.members(id);
    if (wantsCsv(req)) {
      res.type('text/csv').attachment(`segment-${id}.csv`).send(toCsv(users as never, ['userId', 'propensity', 'tier', 'lapsed']));
    } else {
      res.json({ segment: id, users });
    }
  });

  app.use((_req, _res, next) => next(new FedProfileError('NOT_FOUND', 'no such endpoint: GET /profiles/:userId, POST /events, GET /segments, GET /segments/:id/users')));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    let fe: FedProfileError;
    if (err instanceof FedProfileError) fe = err;
    else if ((err as { type?: string })?.type === 'entity.parse.failed') fe = new FedProfileError('BAD_INPUT', 'request body is not valid JSON');
    else if ((err as { type?: string })?.type === 'entity.too.large') fe = new FedProfileError('PAYLOAD_TOO_LARGE', 'request body is too large (5 MB at most)');
    else fe = new FedProfileError('INTERNAL', err instanceof Error ? err.message : String(err));
    res.status(STATUS[fe.code] ?? 500).json({ error: fe.toJSON() });
  });
  return app;
}
