import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dashboardRouter } from './dashboard/router.js';
import express from 'express';
import { pino, type Logger } from 'pino';
import { FedProfileError } from '../shared/errors.js';
import { apiRouter, type UnavailableFederation } from './api.js';
import { CheckpointStore, type CheckpointWriter } from './checkpoints.js';
import { validateFederationConfig } from './federation-validation.js';
import { assertModelWithinLimits, ModelLimitsSchema, type ModelLimits } from './model-limits.js';
import { SocketGateway } from './gateway.js';
import { ZodError } from 'zod';
import { errorHandler, fromZod } from './http-errors.js';
import { CoordinatorMetrics } from './metrics.js';
import { FederationRuntime, type InitModel } from './runtime/federation-runtime.js';
import { CoordinatorStore } from './store/store.js';

export interface CoordinatorOptions {
  port: number;
  host?: string;
  dataDir: string;
  adminToken: string;
  tls?: { cert: string; key: string };
  logger?: Logger;
  /** Builds a federation's round-0 weights; defaults to the profile model's initialiser. */
  initModel?: InitModel;
  collectProcessMetrics?: boolean;
  /** Model size limits for new federations (defaults in model-limits.ts); operators raise them on purpose. */
  limits?: Partial<ModelLimits>;
  /** The checkpoint file-IO boundary (tests inject disk failures here). */
  checkpointWriter?: CheckpointWriter;
}

export interface RunningCoordinator {
  url: string;
  port: number;
  store: CoordinatorStore;
  metrics: CoordinatorMetrics;
  runtime(id: string): FederationRuntime | undefined;
  close(): Promise<void>;
}

/** Loaded lazily: a coordinator that never creates a federation never loads tfjs. */
const defaultInitModel: InitModel = async (cfg, seed) => {
  const [{ initBackend }, { initialGlobalWeights }] = await Promise.all([import('../shared/tf/backend.js'), import('../shared/model/init.js')]);
  await initBackend();
  return initialGlobalWeights(cfg, seed);
};

function loadFailure(id: string, name: string, error: unknown): UnavailableFederation {
  const e = error instanceof ZodError ? fromZod(error, 'stored federation config') : error;
  const details = e instanceof FedProfileError ? e.details : undefined;
  const file = typeof (e as { file?: unknown }).file === 'string' ? (e as { file: string }).file
    : typeof details?.file === 'string' ? details.file : typeof details?.dir === 'string' ? details.dir : null;
  return {
    id, name, status: 'needs-attention', code: e instanceof FedProfileError ? e.code : 'INTERNAL',
    file, reason: e instanceof Error ? e.message : String(e), at: Date.now(),
  };
}

/**
 * Opens the data dir (migrating it), reloads every federation from its last completed round, then serves
 * the operator API and the client socket on one port.
 */
export async function startCoordinator(opts: CoordinatorOptions): Promise<RunningCoordinator> {
  if (opts.adminToken.length < 16) throw new FedProfileError('BAD_CONFIG', 'the admin token must be at least 16 characters');
  const logger = opts.logger ?? pino({ name: 'fedprofile-coordinator' });
  const store = new CoordinatorStore(opts.dataDir);
  const checkpoints = new CheckpointStore(opts.dataDir, opts.checkpointWriter);
  const limits = ModelLimitsSchema.parse(opts.limits ?? {});
  const unavailable = new Map<string, UnavailableFederation>();
  const metrics = new CoordinatorMetrics(opts.collectProcessMetrics ?? false);
  const runtimes = new Map<string, FederationRuntime>();
  let gateway: SocketGateway | undefined;
  const runtimeDeps = {
    store, checkpoints, metrics, logger,
    send: (clientId: string, message: Parameters<SocketGateway['send']>[1]) => { gateway?.send(clientId, message); },
  };

  const interrupted = store.markInterruptedRounds();
  if (interrupted > 0) logger.warn({ rounds: interrupted }, 'rounds interrupted by a restart; they will be run again');
  for (const row of store.listFederations()) {
    // A federation that cannot be loaded (corrupt or missing checkpoint, a stored config this version
    // refuses) is set aside with the file and the reason; the others start.
    try {
      runtimes.set(row.id, await FederationRuntime.open(row, runtimeDeps));
      logger.info({ federation: row.id, status: row.status, completedRounds: row.completedRounds }, 'federation loaded');
    } catch (e) {
      const down = loadFailure(row.id, row.name, e);
      unavailable.set(row.id, down);
      logger.error({ federation: row.id, file: down.file, code: down.code, reason: down.reason }, 'federation needs attention; it was not started');
    }
  }

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '1mb' }));
  app.get('/healthz', (_req, res) => { res.json({ status: 'ok', federations: runtimes.size, needsAttention: unavailable.size }); });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use('/api/v1', apiRouter({
    store, checkpoints, adminToken: opts.adminToken,
    runtime: (id) => runtimes.get(id),
    isOnline: (id) => gateway?.isOnline(id) ?? false,
    lastSeen: (id) => gateway?.lastSeen.get(id),
    deleteFederation: async (id) => {
      const rt = runtimes.get(id);
      runtimes.delete(id);
      await rt?.close();
      gateway?.disconnectFederation(id);
      store.deleteFederation(id);
      await rm(checkpoints.federationDir(id), { recursive: true, force: true });
      logger.info({ federation: id }, 'federation deleted');
    },
    unavailable: () => unavailable,
    disconnectToken: (tokenId) => gateway?.disconnectToken(tokenId) ?? 0,
    createFederation: async (input) => {
      const config = validateFederationConfig(input, limits);
      const init = opts.initModel ?? defaultInitModel;
      const checkedInit: InitModel = async (cfg, seed) => {
        const m = await init(cfg, seed);
        assertModelWithinLimits(cfg, limits, m.manifest.totalSize);
        return m;
      };
      const id = `fed_${randomBytes(5).toString('hex')}${Date.now().toString(36)}`;
      try {
        const rt = await FederationRuntime.create(config, runtimeDeps, checkedInit, id);
        runtimes.set(rt.id, rt);
        return rt;
      } catch (e) {
        // Leave nothing behind for a federation that was not created.
        await rm(checkpoints.federationDir(id), { recursive: true, force: true }).catch(() => undefined);
        throw e;
      }
    },
  }));
  app.use('/dashboard', dashboardRouter());
  app.use((_req, _res, next) => next(new FedProfileError('NOT_FOUND', 'no such endpoint; see /api/v1/openapi.json')));
  app.use(errorHandler((e) => logger.error({ err: e }, 'unhandled API error')));

  const http: HttpServer = opts.tls
    ? createHttpsServer({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) }, app)
    : createHttpServer(app);
  gateway = new SocketGateway(http, { store, metrics, logger, runtime: (id) => runtimes.get(id) });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, opts.host ?? '127.0.0.1', () => { http.off('error', reject); resolve(); });
  });
  const port = (http.address() as AddressInfo).port;
  const host = opts.host && opts.host !== '0.0.0.0' && opts.host !== '::' ? opts.host : '127.0.0.1';
  const url = `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url, dataDir: opts.dataDir }, 'coordinator listening');

  let closing: Promise<void> | undefined;
  return {
    url, port, store, metrics,
    runtime: (id) => runtimes.get(id),
    close: () => {
      closing ??= (async () => {
        await Promise.all([...runtimes.values()].map((r) => r.close()));
        await gateway!.close();
        await new Promise<void>((resolve) => { http.closeAllConnections?.(); http.close(() => resolve()); });
        store.close();
      })();
      return closing;
    },
  };
}
