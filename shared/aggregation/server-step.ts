import { yieldToEventLoop } from '../event-loop.js';
import { createServerOptimizer, type ServerOptimizerConfig, type ServerOptimizerState } from './server-optimizers.js';

/**
 * One server step as a self-contained job: the optimiser's settings and state, the global model and the
 * round's mean delta. Everything is plain data (typed arrays and JSON), so the same job runs in-thread (the
 * simulator) or on the coordinator's aggregation worker with the same code and the same result, bit for bit.
 */
export interface ServerStepJob {
  optimizer: ServerOptimizerConfig;
  state: ServerOptimizerState;
  global: Float32Array;
  delta: Float32Array;
  /** Elements per slice; also the blocks the float64 norms are summed in, so it fixes their rounding. */
  chunk: number;
  /**
   * [from, to) ranges that take the plain mean (x ← x + Δ) whatever the optimiser: the federated statistics,
   * whose mean is the pooled count table only when nothing rescales or carries momentum into it.
   */
  exactRanges?: ReadonlyArray<readonly [number, number]>;
}

export interface ServerStepOutput {
  weights: Float32Array;
  state: ServerOptimizerState;
  /** ‖Δ‖² and ‖x_new − x‖², summed in float64 per `chunk` block. */
  deltaNorm2: number;
  stepNorm2: number;
}

/** Runs a ServerStepJob somewhere (in this thread, or on the aggregation worker). */
export type ServerStepRunner = (job: ServerStepJob) => Promise<ServerStepOutput>;

/** Accumulates ‖Δ‖² and ‖x_new − x‖² over [from, to), in float64. */
function addSquaredNorms(
  acc: { delta2: number; step2: number }, global: Float32Array, weights: Float32Array, delta: Float32Array, from: number, to: number,
): void {
  let d2 = 0;
  let s2 = 0;
  for (let i = from; i < to; i++) {
    d2 += delta[i]! * delta[i]!;
    const s = weights[i]! - global[i]!;
    s2 += s * s;
  }
  acc.delta2 += d2;
  acc.step2 += s2;
}

/**
 * The step and its norms, yielding between slices when `yieldBetween` (on the event loop that serves
 * sockets); a worker thread passes false and runs it straight through. The result does not depend on it.
 */
export async function runServerStep(job: ServerStepJob, yieldBetween = true): Promise<ServerStepOutput> {
  const { global, delta, chunk } = job;
  const optimizer = createServerOptimizer(job.optimizer);
  const { weights, state } = await optimizer.step(global, delta, job.state, yieldBetween ? chunk : Math.max(1, global.length));
  for (const [from, to] of job.exactRanges ?? []) for (let i = from; i < to; i++) weights[i] = global[i]! + delta[i]!;
  const norms = { delta2: 0, step2: 0 };
  for (let from = 0; from < global.length; from += chunk) {
    addSquaredNorms(norms, global, weights, delta, from, Math.min(global.length, from + chunk));
    if (yieldBetween) await yieldToEventLoop();
  }
  return { weights, state, deltaNorm2: norms.delta2, stepNorm2: norms.step2 };
}

/** The in-thread runner: the simulator's, and any caller that does not pass one. */
export const serverStepInThread: ServerStepRunner = (job) => runServerStep(job, true);
