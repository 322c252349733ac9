import { FedProfileError } from '../errors.js';
import type { FitConfig } from '../training/types.js';
import { DEFAULT_YIELD_EVERY } from './mean.js';
import {
  createServerOptimizer, deserializeServerOptimizerState, serializeServerOptimizerState,
  type SerializedServerOptimizerState, type ServerOptimizer, type ServerOptimizerName, type ServerOptimizerState,
} from './server-optimizers.js';
import { learningRateForRound, parseStrategyConfig, phaseForRound, serverLearningRateOf, type StrategyConfig, type StrategyName } from './strategy-config.js';
import { serverStepInThread, type ServerStepRunner } from './server-step.js';
import { drawSeed, overSelectedCount, sampleIds } from './sampling.js';

export { StrategyConfigSchema, parseStrategyConfig, STRATEGY_NAMES, type StrategyConfig, type StrategyConfigInput, type StrategyName } from './strategy-config.js';

/**
 * Flower-style strategy hooks, used by the one round engine (shared/round) that the coordinator and the simulator drive.
 * The mean delta handed to aggregateFit comes from the Aggregator seam (plain or SecAgg+), so a strategy
 * never sees an individual client's update.
 */
export interface ClientProxy {
  id: string;
  numExamples?: number;
}

export interface FitInstruction {
  clientId: string;
  config: FitConfig;
}

export interface FitAggregationInfo {
  contributors: number;
  totalWeight: number;
  failures: number;
}

export interface EvaluateReport {
  clientId: string;
  numExamples: number;
  metrics: Record<string, number>;
}

export interface Strategy {
  readonly name: StrategyName;
  readonly config: Readonly<StrategyConfig>;
  configureFit(round: number, available: readonly ClientProxy[], rng: () => number): FitInstruction[];
  /**
   * The server step on the round's mean update. In this thread by default, yielding to the event loop every
   * `yieldEvery` elements; `runStep` runs it elsewhere (the coordinator's aggregation worker). The result
   * does not depend on either. The strategy's state moves on only if the step (and runStep) succeeds.
   */
  aggregateFit(
    round: number, global: Float32Array, meanDelta: Float32Array, info: FitAggregationInfo, options?: AggregateFitOptions,
  ): Promise<{ weights: Float32Array; metrics: Record<string, number> }>;
  configureEvaluate(round: number, available: readonly ClientProxy[], rng: () => number): { clientId: string }[];
  aggregateEvaluate(round: number, results: readonly EvaluateReport[]): Record<string, number>;
  minFitResults(): number;
  state(): StrategyState;
  restore(state: unknown): void;
  /** The server optimiser's state as it stands (its moments are not copied). */
  optimizerState(): ServerOptimizerState;
  /** Restores from a record whose optimiser state was kept apart (see StrategyStateRecord). */
  restoreFromRecord(record: StrategyStateRecord, optimizer: ServerOptimizerState): void;
}

export interface AggregateFitOptions {
  /** Elements per slice between yields; also fixes the blocks the step norms are summed in. */
  yieldEvery?: number;
  /** Where the step runs (default: this thread). */
  runStep?: ServerStepRunner;
  /** Positions averaged exactly under any optimiser (ServerStepJob.exactRanges): the federated statistics. */
  exactRanges?: ReadonlyArray<readonly [number, number]>;
}

/**
 * What the coordinator's store keeps per federation: the moments live in optimizer.bin beside the round's
 * checkpoint, referenced by name and SHA-256, so the SQLite row stays a few hundred bytes at any model size.
 */
export interface StrategyStateRecord {
  name: StrategyName;
  lastRound: number;
  /** `file` and `sha256` are absent when the optimiser keeps no moments (FedAvg, FedProx): nothing to write. */
  optimizer: { name: ServerOptimizerName; step: number; file?: string; sha256?: string };
}

export function isStrategyStateRecord(x: unknown): x is StrategyStateRecord {
  const r = x as Partial<StrategyStateRecord> | null;
  if (!r || typeof r !== 'object' || !r.optimizer || typeof r.optimizer !== 'object') return false;
  const o = r.optimizer as Record<string, unknown>;
  // A legacy state carries the moments inline (m, v); a record carries a file reference or nothing.
  return !('m' in o) && !('v' in o);
}

/** JSON-safe strategy state for crash-safe resume. */
export interface StrategyState {
  name: StrategyName;
  /** Last round whose aggregateFit completed; 0 before the first. */
  lastRound: number;
  optimizer: SerializedServerOptimizerState;
}

const SERVER_OPTIMIZER_OF: Record<StrategyName, ServerOptimizerName> = {
  fedavg: 'fedavg', fedprox: 'fedavg', fedavgm: 'fedavgm', fedadam: 'fedadam', fedyogi: 'fedyogi',
};

function checkRound(round: number): void {
  if (!Number.isInteger(round) || round < 1) throw new FedProfileError('BAD_INPUT', `round must be an integer ≥ 1, got ${round}`);
}

class ConfiguredStrategy implements Strategy {
  readonly name: StrategyName;
  readonly config: Readonly<StrategyConfig>;
  private readonly optimizer: ServerOptimizer;
  private currentOptimizerState: ServerOptimizerState;
  private lastRound = 0;
  private busy = false;

  constructor(config: StrategyConfig) {
    this.config = Object.freeze({ ...config });
    this.name = config.name;
    this.optimizer = createServerOptimizer({
      name: SERVER_OPTIMIZER_OF[config.name],
      learningRate: serverLearningRateOf(config),
      momentum: config.serverMomentum,
      beta1: config.beta1,
      beta2: config.beta2,
      tau: config.tau,
    });
    this.currentOptimizerState = this.optimizer.initialState();
  }

  minFitResults(): number {
    return this.config.minFitClients;
  }

  configureFit(round: number, available: readonly ClientProxy[], rng: () => number): FitInstruction[] {
    checkRound(round);
    const c = this.config;
    // Not enough clients to ever reach quorum: ask for nobody and let the round engine wait.
    if (available.length < c.minFitClients) return [];
    const count = overSelectedCount(c.clientsPerRound, c.overSelection, available.length);
    const chosen = sampleIds(available.map((a) => a.id), count, rng);
    const phase = phaseForRound(c, round);
    return chosen.map((clientId) => {
      const config: FitConfig = {
        round, phase, localEpochs: c.localEpochs, batchSize: c.batchSize, learningRate: learningRateForRound(c, round),
        optimizer: c.optimizer, seed: drawSeed(rng), selectByValidation: c.selectByValidation,
      };
      if (this.name === 'fedprox') config.proximalMu = c.proximalMu;
      if (c.maxExamples !== undefined) config.maxExamples = c.maxExamples;
      return { clientId, config };
    });
  }

  async aggregateFit(
    round: number, global: Float32Array, meanDelta: Float32Array, info: FitAggregationInfo, options: AggregateFitOptions = {},
  ): Promise<{ weights: Float32Array; metrics: Record<string, number> }> {
    this.checkQuorum(round, info);
    const chunk = options.yieldEvery ?? DEFAULT_YIELD_EVERY;
    if (!Number.isInteger(chunk) || chunk < 1) throw new FedProfileError('BAD_INPUT', `yieldEvery must be a positive integer, got ${chunk}`);
    if (this.busy) throw new FedProfileError('CONFLICT', `round ${round}: an aggregation is already in progress`);
    this.busy = true; // the optimiser state is read across awaits
    try {
      const run = options.runStep ?? serverStepInThread;
      const out = await run({
        optimizer: this.optimizer.config, state: this.currentOptimizerState, global, delta: meanDelta, chunk,
        ...(options.exactRanges ? { exactRanges: options.exactRanges } : {}),
      });
      return this.commit(round, info, out.weights, out.state, { delta2: out.deltaNorm2, step2: out.stepNorm2 });
    } finally {
      this.busy = false;
    }
  }

  private checkQuorum(round: number, info: FitAggregationInfo): void {
    checkRound(round);
    if (info.contributors < this.config.minFitClients) {
      throw new FedProfileError('QUORUM', `round ${round}: ${info.contributors} result(s), quorum is ${this.config.minFitClients}`, {
        round, contributors: info.contributors, quorum: this.config.minFitClients,
      });
    }
  }

  private commit(
    round: number, info: FitAggregationInfo, weights: Float32Array, state: ServerOptimizerState, norms: { delta2: number; step2: number },
  ): { weights: Float32Array; metrics: Record<string, number> } {
    this.currentOptimizerState = state;
    this.lastRound = round;
    return {
      weights,
      metrics: {
        contributors: info.contributors,
        failures: info.failures,
        totalWeight: info.totalWeight,
        meanDeltaNorm: Math.sqrt(norms.delta2),
        serverStepNorm: Math.sqrt(norms.step2),
        serverStep: state.step,
      },
    };
  }

  configureEvaluate(round: number, available: readonly ClientProxy[], rng: () => number): { clientId: string }[] {
    checkRound(round);
    const c = this.config;
    if (c.evaluateEvery === 0 || round % c.evaluateEvery !== 0 || available.length === 0) return [];
    const wanted = Math.max(c.minEvaluateClients, Math.ceil(c.fractionEvaluate * available.length - 1e-9));
    return sampleIds(available.map((a) => a.id), Math.min(wanted, available.length), rng).map((clientId) => ({ clientId }));
  }

  aggregateEvaluate(round: number, results: readonly EvaluateReport[]): Record<string, number> {
    checkRound(round);
    const sums = new Map<string, { weighted: number; weight: number }>();
    let examples = 0;
    let clients = 0;
    let dropped = 0;
    for (const r of results) {
      if (!Number.isFinite(r.numExamples) || r.numExamples <= 0) {
        dropped++;
        continue;
      }
      clients++;
      examples += r.numExamples;
      for (const [key, value] of Object.entries(r.metrics)) {
        // One client's undefined metric (e.g. AUC with a single class) must not erase everyone else's.
        if (!Number.isFinite(value)) {
          dropped++;
          continue;
        }
        const s = sums.get(key) ?? { weighted: 0, weight: 0 };
        s.weighted += value * r.numExamples;
        s.weight += r.numExamples;
        sums.set(key, s);
      }
    }
    const out: Record<string, number> = {};
    for (const [key, s] of [...sums.entries()].sort(([a], [b]) => a.localeCompare(b))) out[key] = s.weighted / s.weight;
    out.evalClients = clients;
    out.evalExamples = examples;
    out.evalDropped = dropped;
    return out;
  }

  state(): StrategyState {
    return { name: this.name, lastRound: this.lastRound, optimizer: serializeServerOptimizerState(this.currentOptimizerState) };
  }

  optimizerState(): ServerOptimizerState {
    return this.currentOptimizerState;
  }

  restoreFromRecord(record: StrategyStateRecord, optimizer: ServerOptimizerState): void {
    if (record.name !== this.name || !Number.isInteger(record.lastRound) || record.lastRound < 0) {
      throw new FedProfileError('INTEGRITY', `cannot restore strategy "${this.name}" from a "${String(record.name)}" record`);
    }
    if (optimizer.name !== SERVER_OPTIMIZER_OF[this.name] || optimizer.step !== record.optimizer.step) {
      throw new FedProfileError('INTEGRITY', `optimiser state holds ${optimizer.name} step ${optimizer.step}, the record expects ${record.optimizer.name} step ${record.optimizer.step}`);
    }
    this.currentOptimizerState = optimizer;
    this.lastRound = record.lastRound;
  }

  restore(input: unknown): void {
    const s = input as Partial<StrategyState> | null;
    if (!s || typeof s !== 'object' || s.name !== this.name || !Number.isInteger(s.lastRound) || (s.lastRound as number) < 0) {
      throw new FedProfileError('INTEGRITY', `cannot restore strategy "${this.name}" from ${JSON.stringify(s?.name ?? null)} state`);
    }
    const optimizerState = deserializeServerOptimizerState(s.optimizer);
    if (optimizerState.name !== SERVER_OPTIMIZER_OF[this.name]) {
      throw new FedProfileError('INTEGRITY', `strategy state holds a ${optimizerState.name} optimiser, expected ${SERVER_OPTIMIZER_OF[this.name]}`);
    }
    this.currentOptimizerState = optimizerState;
    this.lastRound = s.lastRound as number;
  }
}

/** Builds a strategy from raw (e.g. REST or JSON file) settings; bad settings throw a ConfigError naming each field. */
export function createStrategy(cfg: unknown): Strategy {
  return new ConfiguredStrategy(parseStrategyConfig(cfg));
}
