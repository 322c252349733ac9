import type { Logger } from 'pino';
import { createStrategy, isStrategyStateRecord, type Strategy, type StrategyStateRecord } from '../../shared/aggregation/strategy.js';
import { decodeServerOptimizerState } from '../../shared/aggregation/server-optimizers.js';
import { FedProfileError } from '../../shared/errors.js';
import type { ModelConfig } from '../../shared/model/config.js';
import type { ServerMessage } from '../../shared/protocol/messages.js';
import type { PreparedMessage } from '../../shared/protocol/transport.js';
import type { WeightManifest } from '../../shared/weights/manifest.js';
import { OPTIMIZER_BIN, type CheckpointStore } from '../checkpoints.js';
import { FederationConfigSchema, type FederationConfig } from '../federation-config.js';
import type { CoordinatorMetrics } from '../metrics.js';
import { RoundEngine } from '../../shared/round/engine.js';
import { aggregationPlan } from '../../shared/round/plan.js';
import type { RoundCommand, RoundEvent } from '../../shared/round/types.js';
import type { CoordinatorStore, FederationRow } from '../store/store.js';
import type { CommitStepResult } from '../../shared/aggregation/vector-worker.js';
import { aggregationWorker } from './aggregation-worker.js';
import { plannerFromStrategy } from '../../shared/round/planner.js';
import { nextRoundProgress, type RoundProgress } from './round-progress.js';
import { federationProtection } from './update-protection.js';
import type { UpdateProtection } from '../../shared/round/update-protection.js';
import { ExactPart } from '../../shared/compression/exact-part.js';
import type { PrivacyStatus } from '../../shared/privacy/federation-dp.js';

export interface GlobalModel { manifest: WeightManifest; values: Float32Array; hash: string; round: number }

export type InitModel = (cfg: ModelConfig, seed: number) => Promise<{ manifest: WeightManifest; values: Float32Array }>;

export interface RuntimeDeps {
  store: CoordinatorStore;
  checkpoints: CheckpointStore;
  metrics: CoordinatorMetrics;
  logger: Logger;
  /** Delivers a message to a connected client (no-op if it is gone). */
  send(clientId: string, message: ServerMessage): void;
  now?: () => number;
}

type EventInput = RoundEvent extends infer E ? (E extends unknown ? Omit<E, 'now'> : never) : never;

/**
 * The coordinator's driver of one federation's RoundEngine: feeds it socket events, wall-clock timer ticks
 * and aggregation-session completions, and carries out its commands (messages, SQLite rows, checkpoints,
 * strategy step, metrics).
 */
export class FederationRuntime {
  private timer: NodeJS.Timeout | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private closed = false;
  private readonly now: () => number;
  private progress: RoundProgress | undefined;
  /** Set when this federation's round logic threw: the federation is paused and needs an operator. */
  private fault: { reason: string; at: number } | undefined;
  /** The last command that could not be carried out (a full disk, a SQLite error); cleared by the next success. */
  private lastFailure: { command: string; reason: string; at: number } | undefined;
  private preparedModel: { hash: string; prepared: Promise<PreparedMessage> } | undefined;
  /** The federated statistics, which take the plain mean under any server optimiser. */
  private readonly statistics: ExactPart | null;

  private constructor(
    readonly id: string,
    readonly config: FederationConfig,
    private readonly deps: RuntimeDeps,
    private readonly strategy: Strategy,
    private global: GlobalModel,
    private readonly engine: RoundEngine,
    private readonly protection: UpdateProtection,
  ) {
    this.now = deps.now ?? Date.now;
    this.statistics = ExactPart.statistics(global.manifest.specs);
  }

  /** Validates the config, builds round 0's model, checkpoints it, then records the federation. */
  static async create(input: unknown, deps: RuntimeDeps, initModel: InitModel, id?: string): Promise<FederationRuntime> {
    const config = FederationConfigSchema.parse(input);
    // Fail before writing anything: the strategy and the aggregation plan (one quorum, one weight cap).
    aggregationPlan(createStrategy(config.strategy).config, config.secureAggregation, 0);
    const { manifest, values } = await initModel(config.model, config.seed);
    const fedId = id ?? `fed_${Math.random().toString(36).slice(2, 10)}${Date.now().toString(36)}`;
    const hash = await deps.checkpoints.save(fedId, 0, { modelConfig: config.model, manifest, values });
    deps.store.createFederation({ id: fedId, name: config.name, config, modelHash: hash });
    deps.store.audit('admin', 'federation.create', fedId, { name: config.name, modelHash: hash, parameters: manifest.totalSize });
    return FederationRuntime.open(deps.store.getFederation(fedId)!, deps);
  }

  /** Rebuilds the runtime from the store and the last completed round's checkpoint (crash recovery too). */
  static async open(row: FederationRow, deps: RuntimeDeps): Promise<FederationRuntime> {
    const config = FederationConfigSchema.parse(row.config);
    const strategy = createStrategy(config.strategy);
    const lastCompleted = deps.store.listRounds(row.id).filter((r) => r.status === 'completed').at(-1)?.round ?? 0;
    if (isStrategyStateRecord(row.strategyState)) {
      const ref = row.strategyState.optimizer;
      const optimizer = ref.sha256 === undefined
        ? { name: ref.name, step: ref.step, m: null, v: null }
        : decodeServerOptimizerState(await deps.checkpoints.loadOptimizer(row.id, lastCompleted, ref.sha256), `federation ${row.id} round ${lastCompleted} ${OPTIMIZER_BIN}`);
      strategy.restoreFromRecord(row.strategyState, optimizer);
    } else if (row.strategyState) {
      // A row written before the optimiser state moved beside the checkpoint: base64 moments inline.
      // The next commit writes optimizer.bin and replaces the row with a record.
      strategy.restore(row.strategyState);
    }
    const saved = await deps.checkpoints.load(row.id, lastCompleted);
    if (saved.hash !== row.modelHash) {
      throw new FedProfileError('INTEGRITY', `federation ${row.id}: checkpoint of round ${lastCompleted} has hash ${saved.hash}, the store expects ${row.modelHash}`);
    }
    const global: GlobalModel = { manifest: saved.manifest, values: saved.values, hash: saved.hash, round: lastCompleted };
    const protection = federationProtection(config, global.manifest, deps.store.listRounds(row.id).filter((r) => r.status === 'completed').map((r) => r.metrics));
    const plan = protection.adjustPlan(aggregationPlan(strategy.config, config.secureAggregation, global.manifest.totalSize));
    const clientParams = protection.clientParams();
    let runtime: FederationRuntime | undefined;
    const engine = new RoundEngine(
      {
        federationId: row.id, seed: config.seed, rounds: config.rounds,
        minClients: config.minClients ?? plan.quorum, deadlines: config.deadlines,
        aggregation: { kind: plan.kind, params: { ...plan.params, ...clientParams } },
        failurePolicy: config.failurePolicy,
      },
      plannerFromStrategy(strategy),
      ({ round, participants, minResults, targetResults }) => protection.createSession(plan.kind, {
        federationId: row.id, round, participants, minResults, targetResults, vectorLength: global.manifest.totalSize,
        maxWeight: Math.min(plan.weightCap ?? Infinity, config.updateBounds.maxWeight), bounds: config.updateBounds,
        options: plan.params,
        identityKeys: new Map(participants.map((p) => [p, Buffer.from(deps.store.getClient(p)?.identityPublicKey ?? '', 'base64')])),
        // Sum on the aggregation worker so a 10M-parameter update does not hold the socket server (and its
        // heartbeats); pushed, not polled: the background work that decides the outcome becomes an engine event.
        ...(plan.kind === 'plain' && protection.streamsPlainMean() ? { accumulator: aggregationWorker.accumulator(global.manifest.totalSize) } : {}),
        onSettled: () => queueMicrotask(() => runtime?.event({ type: 'session-settled', round })),
      }, runtime?.snapshot().online ?? participants.length),
      { status: row.status, completedRounds: row.completedRounds, lastRound: row.lastRound, modelHash: row.modelHash },
    );
    runtime = new FederationRuntime(row.id, config, deps, strategy, global, engine, protection);
    runtime.publishPrivacy();
    return runtime;
  }

  get model(): GlobalModel { return this.global; }

  /**
   * The current global model as the wire message clients download: encoded (with the federation's download
   * codec), chunked and hashed once per version, on the aggregation worker. A failed preparation is not
   * kept, so the next download tries again.
   */
  modelMessage(): Promise<PreparedMessage> {
    const g = this.global;
    if (this.preparedModel?.hash !== g.hash) {
      const download = this.config.compression?.download;
      const prepared = aggregationWorker.prepareModel({ hash: g.hash, manifest: g.manifest, values: g.values, ...(download && download !== 'f32' ? { codec: download } : {}) });
      const entry = { hash: g.hash, prepared };
      prepared.catch(() => { if (this.preparedModel === entry) this.preparedModel = undefined; });
      this.preparedModel = entry;
    }
    return this.preparedModel.prepared;
  }
  /** ε spent so far and the budget; null without DP. */
  privacy(): PrivacyStatus | null { return this.protection.dp?.status() ?? null; }

  private publishPrivacy(): void {
    const p = this.privacy();
    if (!p) return;
    this.deps.metrics.dpEpsilon.set({ federation: this.id }, p.epsilon);
    if (p.epsilonBudget !== null) this.deps.metrics.dpEpsilonBudget.set({ federation: this.id }, p.epsilonBudget);
  }
  snapshot(): ReturnType<RoundEngine['snapshot']> { return this.engine.snapshot(); }
  /** Each participant's state in the current or last round since this process started. */
  roundProgress(): RoundProgress | undefined { return this.progress; }

  /** Why this federation needs an operator's attention, if it does. */
  get attention(): { reason: string; at: number; lastFailure?: { command: string; reason: string; at: number } } | undefined {
    if (this.fault) return { ...this.fault, ...(this.lastFailure ? { lastFailure: this.lastFailure } : {}) };
    return this.lastFailure ? { reason: `${this.lastFailure.command} failed: ${this.lastFailure.reason}`, at: this.lastFailure.at, lastFailure: this.lastFailure } : undefined;
  }

  /**
   * Never throws: an exception in this federation's round logic pauses this federation (persisted, so a
   * restart does not re-run the same failure in a loop) and a failed side effect (disk full, SQLite error)
   * is logged and shown; either way the process and the other federations carry on.
   */
  event(ev: EventInput): void {
    if (this.closed || this.fault) return;
    const event = { ...ev, now: this.now() } as RoundEvent;
    let cmds: RoundCommand[];
    try {
      this.observe(event);
      cmds = this.engine.handle(event);
    } catch (e) {
      this.pauseOnFault(ev.type, e);
      return;
    }
    for (const c of cmds) {
      try {
        this.execute(c);
      } catch (e) {
        const reason = e instanceof Error ? e.message : String(e);
        this.lastFailure = { command: c.type, reason, at: this.now() };
        this.deps.logger.error({ federation: this.id, command: c.type, err: reason }, 'federation command failed; the round will fail or be retried');
      }
    }
  }

  private pauseOnFault(during: string, e: unknown): void {
    const reason = `round logic failed during "${during}": ${e instanceof Error ? e.message : String(e)}`;
    this.fault = { reason, at: this.now() };
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.deps.logger.error({ federation: this.id, err: reason }, 'federation paused after an internal error; other federations are unaffected');
    try {
      const round = this.engine.snapshot().round;
      if (round) this.deps.store.failRound(this.id, round, reason);
      this.deps.store.setFederationStatus(this.id, 'paused');
      this.deps.store.audit('coordinator', 'federation.fault', this.id, { reason });
    } catch (err) {
      this.deps.logger.error({ federation: this.id, err: err instanceof Error ? err.message : String(err) }, 'could not record the fault');
    }
  }

  /** For the operator: a client's reported error is kept with it, and each participant's state in the round. */
  private observe(event: RoundEvent): void {
    if (event.type === 'fit-failed') {
      try {
        this.deps.store.recordClientError(event.from, event.reason, event.round, event.now);
      } catch (err) {
        this.deps.logger.error({ federation: this.id, err: err instanceof Error ? err.message : String(err) }, 'could not record a client error');
      }
    }
    this.progress = nextRoundProgress(this.progress, { event });
  }

  /** Stops timers and waits for an in-flight commit, so a clean shutdown never leaves half a round. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.allSettled([...this.inflight]);
  }

  private execute(c: RoundCommand): void {
    this.progress = nextRoundProgress(this.progress, { command: c });
    const { store, metrics, logger } = this.deps;
    switch (c.type) {
      case 'send':
        this.deps.send(c.to, c.message);
        break;
      case 'timer':
        if (this.timer) clearTimeout(this.timer);
        this.timer = undefined;
        if (c.at !== null) this.timer = setTimeout(() => this.event({ type: 'tick' }), Math.max(0, c.at - this.now()) + 1);
        break;
      case 'round-started':
        store.startRound(this.id, c.round, c.participants, c.at);
        logger.info({ federation: this.id, round: c.round, participants: c.participants.length }, 'round started');
        break;
      case 'round-failed':
        store.failRound(this.id, c.round, c.reason, c.at);
        metrics.roundsTotal.inc({ federation: this.id, status: 'failed' });
        logger.warn({ federation: this.id, round: c.round, reason: c.reason }, 'round failed');
        break;
      case 'round-evaluated':
        store.setEvalMetrics(this.id, c.round, c.metrics);
        logger.info({ federation: this.id, round: c.round, metrics: c.metrics }, 'round evaluated');
        break;
      case 'status':
        store.setFederationStatus(this.id, c.status, undefined, c.reason ?? null);
        break;
      case 'reject':
        metrics.rejected.inc({ reason: c.reason });
        this.deps.send(c.clientId, { type: 'error', code: c.code, message: c.message });
        logger.warn({ federation: this.id, clientId: c.clientId, reason: c.reason }, c.message);
        break;
      case 'log':
        logger[c.level]({ federation: this.id, ...c.data }, c.msg);
        break;
      case 'commit': {
        const p = this.commit(c).finally(() => this.inflight.delete(p));
        this.inflight.add(p);
        break;
      }
    }
  }

  private async commit(c: Extract<RoundCommand, { type: 'commit' }>): Promise<void> {
    const { summary, outcome } = c;
    const round = summary.round;
    try {
      // Every vector-sized pass of the commit (server step, bounds check, hashes, optimizer.bin) runs on the
      // aggregation worker: the event loop only posts the job and writes the files it gets back.
      let prepared: CommitStepResult | undefined;
      const result = await this.strategy.aggregateFit(round, this.global.values, outcome.mean, {
        contributors: outcome.contributors.length, totalWeight: outcome.totalWeight,
        failures: summary.participants.length - outcome.contributors.length,
      }, {
        ...(this.statistics ? { exactRanges: this.statistics.exactRanges } : {}),
        // A poisoned or overflowed aggregate fails the round there (INTEGRITY); the previous model and
        // optimiser state stay.
        runStep: async (job) => {
          prepared = await aggregationWorker.commitStep(job, this.global.manifest, this.config.updateBounds.maxModelAbs);
          return prepared.step;
        },
      });
      const { hash: weightsHash, weightsSha256, optimizer } = prepared!;
      const optimizerState = this.strategy.optimizerState();
      const hash = await this.deps.checkpoints.save(this.id, round, {
        modelConfig: this.config.model, manifest: this.global.manifest, values: result.weights,
        digests: { hash: weightsHash, weightsSha256 }, ...(optimizer ? { optimizer } : {}),
      });
      const strategyState: StrategyStateRecord = {
        name: this.strategy.name, lastRound: round,
        optimizer: { name: optimizerState.name, step: optimizerState.step, ...(optimizer ? { file: OPTIMIZER_BIN, sha256: optimizer.sha256 } : {}) },
      };
      if (this.closed) return;
      const durationMs = this.now() - summary.startedAt;
      const metrics: Record<string, number> = {
        ...summary.metrics, durationMs, participants: summary.participants.length, contributors: summary.contributors.length,
        // Where the round's time went: until the mean was ready (dispatch, training, upload, summing), then the commit.
        meanReadyMs: summary.aggregatedAt - summary.startedAt, commitMs: this.now() - summary.aggregatedAt,
      };
      for (const [k, v] of Object.entries(result.metrics)) metrics[`server.${k}`] = v;
      const finished = this.engine.snapshot().completedRounds + 1 >= this.config.rounds;
      this.deps.store.completeRound({
        federationId: this.id, round, contributors: summary.contributors, modelHash: hash, metrics,
        strategyState, status: finished ? 'completed' : undefined,
      });
      this.global = { manifest: this.global.manifest, values: result.weights, hash, round };
      this.deps.metrics.roundsTotal.inc({ federation: this.id, status: 'completed' });
      this.deps.metrics.roundDuration.observe({ federation: this.id }, durationMs / 1000);
      this.publishPrivacy();
      this.deps.logger.info({ federation: this.id, round, contributors: summary.contributors.length, durationMs, hash }, 'round committed');
      for (const id of summary.participants) this.deps.send(id, { type: 'round-end', round, status: 'completed', modelHash: hash });
      this.lastFailure = undefined;
      this.event({ type: 'committed', round, modelHash: hash });
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      this.deps.logger.error({ federation: this.id, round, err: reason }, 'round commit failed');
      this.event({ type: 'commit-failed', round, reason });
    }
  }
}
