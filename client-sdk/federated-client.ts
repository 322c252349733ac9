import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { io, type Socket } from 'socket.io-client';
import { ConfigError, DataFileError, FedProfileError } from '../shared/errors.js';
import { keyCheckValue } from '../shared/data/key-check.js';
import { merchantJson, type MerchantEndpoint, type MerchantFederationInfo } from './merchant-http.js';
import type { ModelConfig } from '../shared/model/config.js';
import {
  ServerMessageSchema, authChallenge, describeZodError, type ClientMessage, type ServerMessage,
} from '../shared/protocol/messages.js';
import { frameSocket, type FramedPeer } from '../shared/protocol/transport.js';
import { PROTOCOL_VERSION } from '../shared/protocol/version.js';
import { finiteOnly, RoundClientState } from '../shared/round/client.js';
import type { IdentityKeyPair } from '../shared/secagg/keys.js';
import type { FitConfig, LocalTrainer, TrainingProgress } from '../shared/training/types.js';
import type { BackendChoice } from '../shared/tf/backend.js';
import { createClientAggregator } from './aggregators.js';
import type { EvaluationProtocol } from '../shared/data/examples.js';
import { createDataSourceTrainer, type DataSource, type DataSourceReport } from './data-source.js';
import { LocalProfiler, type LocalProfilerOptions } from './local-profiler.js';
import type { BehaviourEvent } from '../shared/data/events.js';
import type { UserProfile } from '../shared/model/profile.js';
import { readEvents, type EventSource } from '../shared/data/readers/index.js';
import { cleanEventStream } from '../shared/data/clean.js';
import { loadOrCreateIdentity, signAuth } from './identity.js';
import { IdentityMismatchError, IdentityPins } from './identity-pins.js';
import { ModelCache, type CachedModel } from './model-cache.js';

/** How long stop() lets the task in progress finish before closing the trainer under it. */
const STOP_GRACE_MS = 3_000;

export interface FederatedClientOptions {
  coordinatorUrl: string;
  token: string;
  /**
   * The local trainer, or a factory given the federation's model config once the coordinator told it.
   * Omit it to train the profile model (in a worker thread) on `dataSource`.
   */
  trainer?: LocalTrainer | ((modelConfig: ModelConfig) => LocalTrainer | Promise<LocalTrainer>);
  /** Private behaviour events; used when no trainer is given. Requires `hashKey`. */
  dataSource?: DataSource;
  /** Federation-wide hashing secret shared by merchants (never sent anywhere). */
  hashKey?: string;
  /**
   * The federation's shared category taxonomy. Categories listed here get collision-free ids, identical at
   * every merchant; others are hashed. Use the same list at every merchant of a federation.
   */
  knownCategories?: readonly string[];
  /**
   * The federation's shared item catalogue (same list at every merchant): listed items get collision-free
   * ids. Without it items are hashed into model.itemVocab and colliding items share an embedding row.
   */
  knownItems?: readonly string[];
  /** How this client holds out examples for federated evaluation (see DataSourceTrainerOptions). */
  evaluationProtocol?: EvaluationProtocol;
  backend?: BackendChoice;
  /** Holds the identity key and the model cache. */
  workDir: string;
  name?: string;
  logger?: Logger;
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Largest message accepted from the coordinator (default 2 GiB). */
  maxMessageBytes?: number;
  /** PEM CA certificate(s) to trust for an https coordinator with a private or self-signed certificate. */
  ca?: string | Buffer;
  /**
   * SecAgg+ trust: the operator's published directory of client identity keys (a JSON object of client id
   * to base64 key), checked out of band. Without it, neighbours' keys are pinned on first use in the work
   * dir. Either way a key that changes is refused.
   */
  trustedIdentitiesFile?: string;
  /** Weakest SecAgg+ graph this client accepts, whatever the coordinator asks (default: derived from n). */
  secaggMinNeighbors?: number;
  secaggMinThreshold?: number;
  /**
   * Read and check a file/folder `dataSource` before enrolling (default true), so a missing, empty, binary or
   * wrong-column file fails start() with the reader's message instead of surfacing at the first round.
   */
  validateData?: boolean;
  /** How often to ask the coordinator whether the federation is still running (default 5 s; 0 = never). */
  statusPollMs?: number;
  /** Sees every message this client emits (for audits such as the privacy test); must not throw. */
  onSend?: (message: ClientMessage, bytes: number) => void;
}

export interface FederatedClientEvents {
  connected: [{ clientId: string; federationId: string }];
  disconnected: [{ reason: string }];
  'round-started': [{ round: number; config: FitConfig }];
  progress: [TrainingProgress & { round: number }];
  'update-sent': [{ round: number; numExamples: number; trainMs: number; bytes: number }];
  'round-finished': [{ round: number; status: 'completed' | 'failed'; reason?: string; modelHash?: string }];
  evaluated: [{ round: number; numExamples: number; metrics: Record<string, number> }];
  'server-error': [{ code: string; message: string }];
  /** The coordinator could not be reached (transport trouble); socket.io keeps retrying with backoff. */
  'connect-failed': [{ url: string; reason: string; attempt: number }];
  /** The federation completed or was stopped: nothing more will happen; stop() the client. */
  'federation-ended': [{ federationId: string; status: 'completed' | 'stopped'; completedRounds: number }];
  /** An error of this client's own (bad data, failed training), also reported to the coordinator. */
  'client-error': [{ stage: 'data' | 'training' | 'evaluation'; message: string; code?: string }];
}

/**
 * A merchant's client node: connects with its enrolment token, trains the global model on local data when
 * selected (through the LocalTrainer, normally a worker thread), and sends back only what the aggregator
 * asks for (the weight delta, plain or masked), the example count and metrics.
 */
export class FederatedClient extends EventEmitter<FederatedClientEvents> {
  private socket: Socket | undefined;
  private peer: FramedPeer | undefined;
  private identity: IdentityKeyPair | undefined;
  private pins: IdentityPins | undefined;
  private trainer: LocalTrainer | undefined;
  private trainerPromise: Promise<LocalTrainer> | undefined;
  private readonly cache: ModelCache;
  private readonly modelWaiters = new Map<string, Array<{ resolve: (m: CachedModel) => void; reject: (e: Error) => void }>>();
  private readonly rounds: RoundClientState;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private _clientId: string | undefined;
  private modelConfig: ModelConfig | undefined;
  private latestModelHash: string | undefined;
  private _federationId: string | undefined;
  private bytesSent = 0;
  private bytesReceived = 0;
  private preflightEvents: BehaviourEvent[] | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(private readonly opts: FederatedClientOptions) {
    super();
    if (!opts.trainer && opts.dataSource === undefined) {
      throw new FedProfileError('BAD_CONFIG', 'FederatedClient needs a trainer or a dataSource');
    }
    this.cache = new ModelCache(opts.workDir);
    this.rounds = new RoundClientState({
      createSession: (m) => createClientAggregator(m.aggregation.kind, {
        federationId: this._federationId!, clientId: this._clientId!, round: m.round, params: m.aggregation.params,
        identity: this.identity!, vectorLength: Number(m.aggregation.params.dimension ?? 0),
        secagg: { pins: this.pins, minNeighbors: this.opts.secaggMinNeighbors, minThreshold: this.opts.secaggMinThreshold },
      }),
      send: (m) => this.send(m),
      onLeave: (round, reason) => this.log('info', { round, reason }, 'leaving the current round'),
    });
  }

  get clientId(): string | undefined { return this._clientId; }
  get federationId(): string | undefined { return this._federationId; }
  get traffic(): { sent: number; received: number } { return { sent: this.bytesSent, received: this.bytesReceived }; }

  private get endpoint(): MerchantEndpoint {
    return { url: this.opts.coordinatorUrl, token: this.opts.token, ca: this.opts.ca, timeoutMs: 15_000 };
  }

  /**
   * Reads and cleans a file/folder data source once: the reader's own errors (missing, empty, binary,
   * wrong columns) come out here, and a source with no user of 3+ events is refused, before any enrolment.
   * The cleaned events are kept for the trainer, so the file is read only once.
   */
  async checkData(): Promise<{ users: number; events: number }> {
    const src = this.opts.dataSource;
    const path = typeof src === 'string' ? src : src && typeof src === 'object' && 'path' in src && !(Symbol.iterator in src) && !(Symbol.asyncIterator in src) ? (src as EventSource).path : undefined;
    if (path === undefined) return { users: 0, events: 0 };
    const cleaned = await cleanEventStream(readEvents(typeof src === 'string' ? { path } : src as EventSource));
    let usable = 0;
    for (const evs of cleaned.users.values()) if (evs.length >= 3) usable++;
    if (usable === 0) {
      throw new DataFileError(path, `no user has the 3 events training needs (${cleaned.report.outputUsers} users, ${cleaned.report.outputEvents} events read)`);
    }
    this.preflightEvents = [...cleaned.users.values()].flat();
    return { users: cleaned.report.outputUsers, events: cleaned.report.outputEvents };
  }

  /** Connects and resolves once the coordinator accepted this client; rejects if it refuses the token or the hash key. */
  async start(): Promise<{ clientId: string; federationId: string }> {
    if (this.opts.validateData !== false && !this.preflightEvents) await this.checkData();
    this.identity = await loadOrCreateIdentity(this.opts.workDir);
    this.pins = IdentityPins.load(this.opts.workDir, this.opts.trustedIdentitiesFile);
    const identity = this.identity;
    const socket = io(this.opts.coordinatorUrl, {
      transports: ['websocket'],
      ...(this.opts.ca ? { ca: this.opts.ca.toString() } : {}),
      reconnection: true,
      reconnectionDelay: this.opts.reconnect?.initialDelayMs ?? 500,
      reconnectionDelayMax: this.opts.reconnect?.maxDelayMs ?? 10_000,
      randomizationFactor: 0.5,
      // Re-signed on every (re)connect: it binds this connection's server-chosen session id, so it is never replayable.
      auth: (cb) => {
        const signedAt = Date.now();
        cb({
          protocolVersion: PROTOCOL_VERSION, token: this.opts.token, name: this.opts.name, signedAt,
          identityPublicKey: Buffer.from(identity.publicKey).toString('base64'),
          signature: signAuth(identity, authChallenge(socket.io.engine.id, signedAt)),
        });
      },
    });
    this.socket = socket;
    this.peer = frameSocket(socket, {
      maxMessageBytes: this.opts.maxMessageBytes ?? 2 ** 31,
      onMessage: (m, bytes) => { this.bytesReceived += bytes; this.onMessage(m); },
      onReject: (e) => this.log('warn', { code: e.code }, `dropped a message from the coordinator: ${e.message}`),
    });
    socket.on('disconnect', (reason) => {
      if (!this.stopped) this.log('warn', { reason }, 'disconnected from coordinator; reconnecting');
      this.abandonRound('disconnected');
      this.failModelWaiters(new FedProfileError('PROTOCOL', `disconnected (${String(reason)}) before the model arrived`));
      this.emit('disconnected', { reason });
    });
    let attempt = 0;
    socket.on('connect_error', (err: Error & { data?: { code?: string }; description?: unknown }) => {
      if (err.data?.code) return;
      this.emit('connect-failed', { url: this.opts.coordinatorUrl, reason: transportReason(err), attempt: ++attempt });
    });
    const joined = new Promise<{ clientId: string; federationId: string }>((resolve, reject) => {
      const onError = (err: Error & { data?: { code?: string; message?: string } }): void => {
        if (!err.data?.code) return; // transport trouble: socket.io keeps retrying with backoff
        socket.off('connect_error', onError);
        this.off('connected', onConnected);
        socket.disconnect();
        reject(new FedProfileError(err.data.code as FedProfileError['code'], `coordinator refused the connection: ${err.data.message ?? err.message}`));
      };
      const onConnected = (c: { clientId: string; federationId: string }): void => {
        socket.off('connect_error', onError);
        resolve(c);
      };
      socket.on('connect_error', onError);
      this.once('connected', onConnected);
    });
    const who = await joined;
    await this.pinKeyCheck();
    this.watchFederation();
    return who;
  }

  /** Presents the hash key's check value; the first merchant pins it, a different key is refused. */
  private async pinKeyCheck(): Promise<void> {
    if (!this.opts.hashKey) return;
    try {
      await merchantJson(this.endpoint, 'POST', '/key-check', 'hash key check', { keyCheck: keyCheckValue(this.opts.hashKey) });
    } catch (e) {
      await this.stop();
      if (e instanceof FedProfileError && e.code === 'CONFLICT') throw new ConfigError(`--hash-key: ${e.message.replace(/^hash key check: /, '')}`);
      throw e;
    }
  }

  /** Polls the federation's status (and checks right after each round) until it completes or stops. */
  private watchFederation(): void {
    const every = this.opts.statusPollMs ?? 5000;
    if (every <= 0) return;
    const check = async (): Promise<void> => {
      if (this.stopped || this.ended) return;
      try {
        const info = await merchantJson<MerchantFederationInfo>(this.endpoint, 'GET', '/federation', 'federation status');
        if ((info.status === 'completed' || info.status === 'stopped') && !this.ended && !this.stopped) {
          this.ended = true;
          this.emit('federation-ended', { federationId: info.federationId, status: info.status, completedRounds: info.completedRounds });
        }
      } catch {
        // unreachable for now: the socket's own reconnect messages say so
      }
    };
    this.statusCheck = () => { void check(); };
    this.statusTimer = setInterval(this.statusCheck, every);
    this.statusTimer.unref();
    void check();
  }

  private statusCheck: (() => void) | undefined;

  /** Tells the coordinator about an error of this client's own (shown per client to the operator); best effort. */
  private reportError(stage: 'data' | 'training' | 'evaluation', err: unknown): void {
    const message = (err instanceof Error ? err.message : String(err)).slice(0, 1000) || 'unknown error';
    const code = err instanceof FedProfileError ? err.code : undefined;
    this.emit('client-error', { stage, message, ...(code ? { code } : {}) });
    merchantJson(this.endpoint, 'POST', '/errors', 'error report', { stage, message }).catch((e: Error) => {
      this.log('warn', { err: e.message }, 'could not report the error to the coordinator');
    });
  }

  /**
   * A LocalProfiler over the latest global model (see local-profiler.ts): profiles computed on this machine,
   * nothing is sent. Needs the hash key used for training. Call close() on it when done.
   */
  async localProfiler(opts: Omit<LocalProfilerOptions, 'hashKey' | 'backend'> = {}): Promise<LocalProfiler> {
    if (!this.modelConfig || !this.latestModelHash) throw new FedProfileError('CONFLICT', 'no global model yet: start() the client first');
    const model = await this.model(this.latestModelHash);
    return LocalProfiler.fromWeights(this.modelConfig, model.values, { knownCategories: this.opts.knownCategories, knownItems: this.opts.knownItems, ...opts, hashKey: this.opts.hashKey ?? '', backend: this.opts.backend });
  }

  /** Profiles of the given users (grouped by userId) with the latest global model, keyed by their raw ids. */
  async profile(userEvents: Iterable<BehaviourEvent> | AsyncIterable<BehaviourEvent>): Promise<UserProfile[]> {
    const byUser = new Map<string, BehaviourEvent[]>();
    for await (const e of userEvents as AsyncIterable<BehaviourEvent>) {
      let list = byUser.get(e.userId);
      if (!list) byUser.set(e.userId, (list = []));
      list.push(e);
    }
    const profiler = await this.localProfiler();
    try {
      return profiler.profile([...byUser].map(([userId, events]) => ({ userId, events })));
    } finally {
      profiler.close();
    }
  }

  /** Profiles of every user in this client's dataSource, with the latest global model. */
  async profileAll(): Promise<UserProfile[]> {
    const src = this.opts.dataSource;
    if (src === undefined) throw new FedProfileError('BAD_CONFIG', 'profileAll needs the client to have a dataSource');
    if (typeof src === 'string' || (typeof src === 'object' && 'path' in src && !(Symbol.iterator in src) && !(Symbol.asyncIterator in src))) {
      const profiler = await this.localProfiler();
      try {
        return await profiler.profileAll(typeof src === 'string' ? src : (src as EventSource).path);
      } finally {
        profiler.close();
      }
    }
    return this.profile(typeof src === 'function' ? await src() : src as Iterable<BehaviourEvent> | AsyncIterable<BehaviourEvent>);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.abandonRound('client stopped');
    this.failModelWaiters(new FedProfileError('PROTOCOL', 'client stopped'));
    this.socket?.disconnect();
    // A queued task can be waiting on the network (a model download, a status poll); stop() must not wait on
    // it for long: after a grace period the trainer is closed under it, which ends that task too.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      this.queue.catch(() => undefined),
      new Promise<void>((resolve) => { grace = setTimeout(resolve, STOP_GRACE_MS); }),
    ]);
    clearTimeout(grace);
    await this.trainer?.close();
  }

  // ---- incoming ----

  private onMessage(raw: unknown): void {
    const parsed = ServerMessageSchema.safeParse(raw);
    if (!parsed.success) {
      this.log('warn', {}, `ignored an invalid coordinator message: ${describeZodError(parsed.error)}`);
      return;
    }
    const m = parsed.data;
    switch (m.type) {
      case 'welcome':
        this._clientId = m.clientId;
        this._federationId = m.federationId;
        this.modelConfig = m.modelConfig;
        this.latestModelHash = m.modelHash ?? this.latestModelHash;
        this.ensureTrainer(m.modelConfig).catch((e: unknown) => this.reportError('data', e));
        this.log('info', { clientId: m.clientId, federation: m.federationId }, 'enrolled with coordinator');
        this.emit('connected', { clientId: m.clientId, federationId: m.federationId });
        break;
      case 'model': {
        const waiters = this.modelWaiters.get(m.hash) ?? [];
        this.modelWaiters.delete(m.hash);
        this.cache.put(m.hash, m.manifest, m.weights).then(
          (model) => waiters.forEach((w) => w.resolve(model)),
          (e: Error) => waiters.forEach((w) => w.reject(e)),
        );
        break;
      }
      case 'fit':
        this.onFit(m);
        break;
      case 'agg': {
        try {
          if (!this.rounds.onAgg(m)) this.log('warn', { round: m.round }, 'aggregation message for a round this client is not in');
        } catch (e) {
          if (e instanceof IdentityMismatchError) {
            this.log('error', { round: m.round, client: e.clientId }, e.message);
            this.abandonRound('a neighbour\'s identity key changed');
            this.send({ type: 'fit-failed', round: m.round, reason: e.message.slice(0, 1000) });
            break;
          }
          this.log('warn', { round: m.round, err: (e as Error).message }, 'aggregation message rejected');
        }
        break;
      }
      case 'evaluate':
        this.enqueue(() => this.runEvaluation(m.round, m.modelHash));
        break;
      case 'round-end':
        if (m.status === 'completed' && m.modelHash) this.latestModelHash = m.modelHash;
        this.rounds.onRoundEnd(m);
        this.emit('round-finished', { round: m.round, status: m.status, reason: m.reason, modelHash: m.modelHash });
        this.statusCheck?.();
        break;
      case 'error':
        if (m.ref && this.modelWaiters.has(m.ref)) this.failModelWaiters(new FedProfileError('NOT_FOUND', m.message), m.ref);
        this.log('warn', { code: m.code }, `coordinator: ${m.message}`);
        this.emit('server-error', { code: m.code, message: m.message });
        break;
    }
  }

  private onFit(m: Extract<ServerMessage, { type: 'fit' }>): void {
    const active = this.rounds.beginFit(m);
    if (!active) return;
    this.emit('round-started', { round: m.round, config: m.config });
    this.enqueue(async () => {
      if (active.abandoned) return;
      try {
        const [model, trainer] = await Promise.all([this.model(m.modelHash), this.ensureTrainer()]);
        if (active.abandoned) return;
        const t0 = performance.now();
        const result = await trainer.fit(model.values, model.manifest, m.config, (p) => this.emit('progress', { ...p, round: m.round }));
        const trainMs = performance.now() - t0;
        const before = this.bytesSent;
        if (this.rounds.finishFit(active, result, trainMs)) {
          this.emit('update-sent', { round: m.round, numExamples: result.numExamples, trainMs, bytes: this.bytesSent - before });
        }
      } catch (e) {
        if (active.abandoned) return;
        this.log('error', { round: m.round, err: (e as Error).message }, 'local training failed');
        this.reportError(isDataError(e) ? 'data' : 'training', e);
        this.rounds.failFit(active, (e as Error).message);
      }
    });
  }

  private async runEvaluation(round: number, modelHash: string): Promise<void> {
    try {
      const [model, trainer] = await Promise.all([this.model(modelHash), this.ensureTrainer()]);
      const r = await trainer.evaluate(model.values, model.manifest);
      const metrics = finiteOnly(r.metrics);
      this.send({ type: 'eval-result', round, numExamples: r.numExamples, metrics });
      this.emit('evaluated', { round, numExamples: r.numExamples, metrics });
    } catch (e) {
      this.log('warn', { round, err: (e as Error).message }, 'local evaluation failed');
      this.reportError('evaluation', e);
    }
  }

  // ---- helpers ----

  /** The global model with this hash: from the cache, or downloaded once. */
  private async model(hash: string): Promise<CachedModel> {
    const cached = await this.cache.get(hash);
    if (cached) return cached;
    return new Promise((resolve, reject) => {
      const list = this.modelWaiters.get(hash);
      if (list) { list.push({ resolve, reject }); return; }
      this.modelWaiters.set(hash, [{ resolve, reject }]);
      this.send({ type: 'model-get', hash });
    });
  }

  private ensureTrainer(modelConfig?: ModelConfig): Promise<LocalTrainer> {
    if (this.trainerPromise) return this.trainerPromise;
    const o = this.opts;
    const t = o.trainer ?? ((cfg: ModelConfig) => createDataSourceTrainer(cfg, {
      dataSource: this.preflightEvents ?? o.dataSource!, hashKey: o.hashKey ?? '', knownCategories: o.knownCategories, knownItems: o.knownItems, backend: o.backend,
      ...(o.evaluationProtocol ? { evaluationProtocol: o.evaluationProtocol } : {}),
    }));
    if (typeof t !== 'function') this.trainerPromise = Promise.resolve(t);
    else if (modelConfig) this.trainerPromise = Promise.resolve().then(() => t(modelConfig));
    else return Promise.reject(new FedProfileError('PROTOCOL', 'no model config received yet to build the trainer'));
    this.trainerPromise.then((tr) => {
      this.trainer = tr;
      const ids = (tr as Partial<{ dataReport: DataSourceReport }>).dataReport?.itemIds;
      // Colliding items share one embedding row at every merchant: worth an operator's attention above 1 %.
      if (ids && ids.collisionRate > 0.01) {
        this.log('warn', { items: ids.items, collidedItems: ids.collidedItems, collisionRate: +ids.collisionRate.toFixed(4) },
          'item ids collide: pass the federation\'s item catalogue (--items) or use a larger model itemVocab');
      }
    }, () => undefined);
    return this.trainerPromise;
  }

  private send(message: ClientMessage): void {
    if (!this.peer || this.stopped) return;
    const bytes = this.peer.send(message);
    this.bytesSent += bytes;
    this.opts.onSend?.(message, bytes);
  }

  /** A model that will not arrive (refused, or the connection is gone) must not hold the task queue forever. */
  private failModelWaiters(error: Error, hash?: string): void {
    for (const [h, waiters] of [...this.modelWaiters]) {
      if (hash !== undefined && h !== hash) continue;
      this.modelWaiters.delete(h);
      for (const w of waiters) w.reject(error);
    }
  }

  private abandonRound(reason: string): void {
    this.rounds.leave(reason);
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task, task);
  }

  private log(level: 'info' | 'warn' | 'error', data: Record<string, unknown>, msg: string): void {
    this.opts.logger?.[level](data, msg);
  }
}

const isDataError = (e: unknown): boolean => e instanceof FedProfileError && (e.code === 'BAD_DATA_FILE' || e.code === 'BAD_CONFIG' || e.code === 'BAD_INPUT');

/** What went wrong on the wire, in words: the TLS or socket error under socket.io's generic "websocket error". */
function transportReason(err: Error & { description?: unknown }): string {
  const d = err.description as { message?: unknown; error?: { message?: unknown; code?: unknown } } | undefined;
  const inner = d?.error?.message ?? d?.message;
  const code = typeof d?.error?.code === 'string' ? ` (${d.error.code})` : '';
  return typeof inner === 'string' && inner ? `${inner}${code}` : err.message;
}
