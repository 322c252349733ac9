import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { io, type Socket } from 'socket.io-client';
import type { ClientAggregationSession, Outbound } from '../shared/aggregation/seam.js';
import { FedProfileError } from '../shared/errors.js';
import type { ModelConfig } from '../shared/model/config.js';
import {
  ServerMessageSchema, authChallenge, describeZodError, type ClientMessage, type ServerMessage,
} from '../shared/protocol/messages.js';
import { frameSocket, type FramedPeer } from '../shared/protocol/transport.js';
import { PROTOCOL_VERSION } from '../shared/protocol/version.js';
import type { IdentityKeyPair } from '../shared/secagg/keys.js';
import type { FitConfig, LocalTrainer, TrainingProgress } from '../shared/training/types.js';
import type { BackendChoice } from '../shared/tf/backend.js';
import { createClientAggregator } from './aggregators.js';
import { createDataSourceTrainer, type DataSource } from './data-source.js';
import { LocalProfiler, type LocalProfilerOptions } from './local-profiler.js';
import type { BehaviourEvent } from '../shared/data/events.js';
import type { UserProfile } from '../shared/model/profile.js';
import type { EventSource } from '../shared/data/readers/index.js';
import { loadOrCreateIdentity, signAuth } from './identity.js';
import { ModelCache, type CachedModel } from './model-cache.js';

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
}

interface ActiveRound { round: number; session: ClientAggregationSession; abandoned: boolean }

/**
 * A merchant's client node: connects with its enrolment token, trains the global model on local data when
 * selected (through the LocalTrainer, normally a worker thread), and sends back only what the aggregator
 * asks for (the weight delta, plain or masked), the example count and metrics.
 */
export class FederatedClient extends EventEmitter<FederatedClientEvents> {
  private socket: Socket | undefined;
  private peer: FramedPeer | undefined;
  private identity: IdentityKeyPair | undefined;
  private trainer: LocalTrainer | undefined;
  private trainerPromise: Promise<LocalTrainer> | undefined;
  private readonly cache: ModelCache;
  private readonly modelWaiters = new Map<string, Array<{ resolve: (m: CachedModel) => void; reject: (e: Error) => void }>>();
  private active: ActiveRound | undefined;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private _clientId: string | undefined;
  private modelConfig: ModelConfig | undefined;
  private latestModelHash: string | undefined;
  private _federationId: string | undefined;
  private bytesSent = 0;
  private bytesReceived = 0;

  constructor(private readonly opts: FederatedClientOptions) {
    super();
    if (!opts.trainer && opts.dataSource === undefined) {
      throw new FedProfileError('BAD_CONFIG', 'FederatedClient needs a trainer or a dataSource');
    }
    this.cache = new ModelCache(opts.workDir);
  }

  get clientId(): string | undefined { return this._clientId; }
  get federationId(): string | undefined { return this._federationId; }
  get traffic(): { sent: number; received: number } { return { sent: this.bytesSent, received: this.bytesReceived }; }

  /** Connects and resolves once the coordinator accepted this client; rejects if it refuses the token. */
  async start(): Promise<{ clientId: string; federationId: string }> {
    this.identity = await loadOrCreateIdentity(this.opts.workDir);
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
    return new Promise((resolve, reject) => {
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
  }

  /**
   * A LocalProfiler over the latest global model (see local-profiler.ts): profiles computed on this machine,
   * nothing is sent. Needs the hash key used for training. Call close() on it when done.
   */
  async localProfiler(opts: Omit<LocalProfilerOptions, 'hashKey' | 'backend'> = {}): Promise<LocalProfiler> {
    if (!this.modelConfig || !this.latestModelHash) throw new FedProfileError('CONFLICT', 'no global model yet: start() the client first');
    const model = await this.model(this.latestModelHash);
    return LocalProfiler.fromWeights(this.modelConfig, model.values, { knownCategories: this.opts.knownCategories, ...opts, hashKey: this.opts.hashKey ?? '', backend: this.opts.backend });
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
    this.abandonRound('client stopped');
    this.failModelWaiters(new FedProfileError('PROTOCOL', 'client stopped'));
    this.socket?.disconnect();
    await this.queue.catch(() => undefined);
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
        this.ensureTrainer(m.modelConfig);
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
        const a = this.active;
        if (!a || a.round !== m.round || a.abandoned) { this.log('warn', { round: m.round }, 'aggregation message for a round this client is not in'); break; }
        try {
          this.sendOutbound(m.round, a.session.handle(m.aggType, m.payload));
        } catch (e) {
          this.log('warn', { round: m.round, err: (e as Error).message }, 'aggregation message rejected');
        }
        break;
      }
      case 'evaluate':
        this.enqueue(() => this.runEvaluation(m.round, m.modelHash));
        break;
      case 'round-end':
        if (m.status === 'completed' && m.modelHash) this.latestModelHash = m.modelHash;
        if (this.active?.round === m.round) {
          // Over either way: a straggler's result would only be rejected as late.
          this.active.abandoned = true;
          this.active = undefined;
        }
        this.emit('round-finished', { round: m.round, status: m.status, reason: m.reason, modelHash: m.modelHash });
        break;
      case 'error':
        if (m.ref && this.modelWaiters.has(m.ref)) this.failModelWaiters(new FedProfileError('NOT_FOUND', m.message), m.ref);
        this.log('warn', { code: m.code }, `coordinator: ${m.message}`);
        this.emit('server-error', { code: m.code, message: m.message });
        break;
    }
  }

  private onFit(m: Extract<ServerMessage, { type: 'fit' }>): void {
    this.abandonRound('a new round started');
    let session: ClientAggregationSession;
    try {
      session = createClientAggregator(m.aggregation.kind, {
        federationId: this._federationId!, clientId: this._clientId!, round: m.round, params: m.aggregation.params,
        identity: this.identity!, vectorLength: Number(m.aggregation.params.dimension ?? 0),
      });
    } catch (e) {
      this.send({ type: 'fit-failed', round: m.round, reason: (e as Error).message });
      return;
    }
    const active: ActiveRound = { round: m.round, session, abandoned: false };
    this.active = active;
    this.emit('round-started', { round: m.round, config: m.config });
    this.enqueue(async () => {
      if (active.abandoned) return;
      try {
        const [model, trainer] = await Promise.all([this.model(m.modelHash), this.ensureTrainer()]);
        if (active.abandoned) return;
        const t0 = performance.now();
        const result = await trainer.fit(model.values, model.manifest, m.config, (p) => this.emit('progress', { ...p, round: m.round }));
        if (active.abandoned) return;
        const trainMs = performance.now() - t0;
        const before = this.bytesSent;
        this.send({ type: 'fit-meta', round: m.round, numExamples: result.numExamples, metrics: finiteOnly(result.metrics), trainMs });
        this.sendOutbound(m.round, session.submit(result.delta, result.numExamples));
        this.emit('update-sent', { round: m.round, numExamples: result.numExamples, trainMs, bytes: this.bytesSent - before });
      } catch (e) {
        if (active.abandoned) return;
        this.log('error', { round: m.round, err: (e as Error).message }, 'local training failed');
        this.send({ type: 'fit-failed', round: m.round, reason: (e as Error).message.slice(0, 1000) });
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
    const t = o.trainer ?? ((cfg: ModelConfig) => createDataSourceTrainer(cfg, { dataSource: o.dataSource!, hashKey: o.hashKey ?? '', knownCategories: o.knownCategories, backend: o.backend }));
    if (typeof t !== 'function') this.trainerPromise = Promise.resolve(t);
    else if (modelConfig) this.trainerPromise = Promise.resolve(t(modelConfig));
    else return Promise.reject(new FedProfileError('PROTOCOL', 'no model config received yet to build the trainer'));
    this.trainerPromise.then((tr) => { this.trainer = tr; }, () => undefined);
    return this.trainerPromise;
  }

  private sendOutbound(round: number, msgs: Outbound[]): void {
    for (const o of msgs) this.send({ type: 'agg', round, aggType: o.type, payload: o.payload });
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
    if (this.active) {
      this.log('info', { round: this.active.round, reason }, 'leaving the current round');
      this.active.abandoned = true;
      this.active = undefined;
    }
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task, task);
  }

  private log(level: 'info' | 'warn' | 'error', data: Record<string, unknown>, msg: string): void {
    this.opts.logger?.[level](data, msg);
  }
}

function finiteOnly(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => Number.isFinite(v)).slice(0, 64));
}
