import { seededUniform } from '../../shared/random.js';
import { createStrategy, type StrategyConfigInput } from '../../shared/aggregation/strategy.js';
import { FedProfileError } from '../../shared/errors.js';
import { ExactPart } from '../../shared/compression/exact-part.js';
import type { SimulationConfig, StrategySpec } from '../config.js';
import {
  abortable, checkAborted, evalNumbers, learningRateOf, phaseOf, totalRounds, type RunContext,
} from '../context.js';
import { POOLED } from '../pool/protocol.js';
import type { RoundRecord } from '../report/index.js';
import { aggregateRound } from './privacy-aggregate.js';
import { PeftRounds } from './peft-round.js';
import { createPrivacyHooks } from './privacy-hooks.js';

type FederatedSpec = Extract<StrategySpec, { name: 'fedavg' | 'fedprox' | 'fedavgm' | 'fedadam' | 'fedyogi' }>;

/** Whether the experiment needs this round loop (DP, robust rules, attackers, compression or PEFT). */
export function usesPrivacyHooks(cfg: SimulationConfig): boolean {
  return Boolean(cfg.dp?.enabled || (cfg.robustAggregation && cfg.robustAggregation.rule !== 'mean') || cfg.attack || cfg.compression || cfg.peft);
}

function plannedPerRound(ctx: RunContext): number {
  return Math.min(ctx.cfg.training.clientsPerRound ?? ctx.clientIds.length, ctx.clientIds.length);
}

function strategyInput(ctx: RunContext, spec: FederatedSpec, selectAll: boolean): StrategyConfigInput {
  const t = ctx.cfg.training;
  // Poisson sampling (DP): the strategy offers everyone and the privacy hooks keep each client with rate q.
  const perRound = selectAll ? ctx.clientIds.length : plannedPerRound(ctx);
  const base: StrategyConfigInput = {
    name: spec.name, clientsPerRound: perRound, overSelection: 1, minFitClients: 1,
    localEpochs: t.localEpochs, batchSize: t.batchSize, learningRate: t.learningRate, optimizer: t.optimizer,
    maxExamples: t.maxExamplesPerClient, pretrainRounds: t.pretrainRounds, evaluateEvery: 0,
  };
  if (spec.name === 'fedprox') return { ...base, proximalMu: spec.mu };
  if (spec.name === 'fedavgm') return { ...base, serverLearningRate: spec.serverLearningRate, serverMomentum: spec.serverMomentum };
  if (spec.name === 'fedadam') {
    return { ...base, serverLearningRate: spec.serverLearningRate, beta1: spec.beta1, beta2: spec.beta2, tau: spec.tau };
  }
  return base;
}

/**
 * Federated rounds through the same Strategy the coordinator uses: configureFit picks the clients and their
 * FitConfig, the pool trains them with the client trainer, the aggregation seam (plain or SecAgg+) turns
 * their deltas into one mean, aggregateFit applies the server optimiser, and the new global model is scored
 * on every client's held-out test users.
 */
export async function runFederatedWithPrivacyHooks(ctx: RunContext, spec: FederatedSpec): Promise<void> {
  const { cfg, pool, signal } = ctx;
  const hooks = createPrivacyHooks(cfg, spec.name, ctx.clientIds, plannedPerRound(ctx));
  const peft = new PeftRounds(cfg, ctx.manifest);
  const strategy = createStrategy(strategyInput(ctx, spec, hooks.selectAll));
  const statistics = ExactPart.statistics(ctx.manifest.specs);
  const sampleRng = seededUniform(`${cfg.seed}/${spec.name}/sample`);
  const faultRng = seededUniform(`${cfg.seed}/${spec.name}/faults`);
  const available = ctx.clientIds.map((id) => ({ id, numExamples: ctx.trainSizes.get(id)! }));
  const maxWeight = hooks.maxWeight(Math.max(1, ...ctx.clientIds.map((id) => Math.min(ctx.trainSizes.get(id)!, cfg.training.maxExamplesPerClient))));
  const participation: Record<string, number> = Object.fromEntries(ctx.clientIds.map((id) => [id, 0]));
  ctx.participation[spec.name] = participation;
  const rounds = totalRounds(cfg);
  let global = ctx.initial;
  let totalSeconds = 0;
  let totalUp = 0;
  let totalDown = 0;
  ctx.progress.startStrategy(spec.name, rounds);
  for (let round = 1; round <= rounds; round++) {
    checkAborted(signal);
    const stop = hooks.budgetStop();
    if (stop) {
      ctx.progress.note(`[${spec.name}] stopped before round ${round}: ${stop}`);
      break;
    }
    const t0 = performance.now();
    const instructions = hooks.sample(round, strategy.configureFit(round, available, sampleRng));
    const phase = phaseOf(cfg, round);
    const slice = peft.roundSlice(phase);
    const download = hooks.download(global, peft.exactPart(undefined));
    const globalAtStart = global;
    const dimension = slice ? slice.size : ctx.manifest.totalSize;
    const trainOnly = slice ? { trainOnly: slice.names } : {};
    const downloaded = peft.downloads(instructions.map((i) => i.clientId), global, cfg.compression?.download ?? 'f32', slice);
    const dropped = new Set<string>();
    const stragglers = new Set<string>();
    for (const ins of instructions) {
      const u = faultRng();
      if (u < cfg.dropout) dropped.add(ins.clientId);
      else if (u < cfg.dropout + cfg.stragglers.rate) stragglers.add(ins.clientId);
    }
    const training = instructions.filter((i) => !dropped.has(i.clientId) && !stragglers.has(i.clientId));
    ctx.progress.startRound(round, training.length);
    const tTrain = performance.now();
    const lr = learningRateOf(cfg, round);
    const fits = await abortable(Promise.all(training.map(async (ins) => {
      const r = await pool.run({ kind: 'fit', clientId: ins.clientId, global: download.global, config: { ...ins.config, learningRate: lr, ...trainOnly } });
      ctx.progress.clientDone();
      if (r.kind !== 'fit') throw new FedProfileError('INTERNAL', 'unexpected pool result');
      return [ins.clientId, r] as const;
    })), signal);
    const trainSeconds = (performance.now() - tTrain) / 1000;
    const clientTrainSeconds = fits.reduce((s, [, r]) => s + r.seconds, 0);
    const uploads = new Map(fits.map(([id, r]) => [id, hooks.clientUpdate(id, round, slice ? slice.extract(r.delta) : r.delta, Math.max(1, Math.min(r.numExamples, maxWeight)), peft.exactPart(slice))]));
    const updates = new Map([...uploads].map(([id, u]) => [id, { update: u.update, weight: u.weight }]));
    const agg = aggregateRound({
      cfg, strategy: spec.name, round, participants: instructions.map((i) => i.clientId), updates, dropped, stragglers,
      dimension, maxWeight,
    });
    let completed = 0;
    const aggregation: Record<string, number> = { ...agg.metrics };
    if (agg.outcome.status === 'done') {
      const contributors = agg.outcome.contributors;
      completed = contributors.length;
      const mean = hooks.serverMean(round, agg.outcome.mean, completed);
      const step = await strategy.aggregateFit(round, global, slice ? slice.scatter(mean) : mean, {
        contributors: completed, totalWeight: agg.outcome.totalWeight, failures: instructions.length - completed,
      }, statistics ? { exactRanges: statistics.exactRanges } : {});
      global = step.weights;
      Object.assign(aggregation, step.metrics);
      for (const id of contributors) participation[id] = (participation[id] ?? 0) + 1;
    } else if (agg.outcome.status === 'aborted') {
      aggregation.aborted = 1;
      ctx.progress.note(`[${spec.name}] round ${round}: aggregation aborted (${agg.outcome.reason}); the global model is unchanged`);
    }
    Object.assign(aggregation, hooks.endRound({ participants: instructions.length, contributors: completed, released: agg.outcome.status === 'done', dimension }));
    peft.endRound(slice, agg.outcome.status === 'done', globalAtStart);
    if (slice) {
      aggregation.peftParameters = dimension;
      if (slice.statistics) aggregation.peftStatistics = 1;
    }
    ctx.finalModels[spec.name] = global;
    const ev = await abortable(pool.run({ kind: 'evaluate', clientId: POOLED, global, evalSeed: cfg.seed }), signal);
    if (ev.kind !== 'evaluate') throw new FedProfileError('INTERNAL', 'unexpected pool result');
    // Every invited client downloads the global model; the aggregation protocol's own traffic is added.
    const bytesDown = downloaded + agg.bytesDown;
    // Compressed uploads: the transport counted float32 updates; count the encoded bytes instead.
    let bytesUp = agg.bytesUp;
    if (agg.outcome.status === 'done') {
      for (const id of agg.outcome.contributors) {
        const u = uploads.get(id);
        if (u && u.encodedBytes !== null) bytesUp += u.encodedBytes - u.update.byteLength;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    totalSeconds += seconds;
    totalUp += bytesUp;
    totalDown += bytesDown;
    const rec: RoundRecord = {
      strategy: spec.name, round, phase: instructions[0]?.config.phase ?? (round <= cfg.training.pretrainRounds ? 'pretrain' : 'finetune'),
      ...evalNumbers(ev.metrics),
      seconds, totalSeconds, bytesUp, bytesDown, totalBytesUp: totalUp, totalBytesDown: totalDown,
      clientsSelected: instructions.length, clientsCompleted: completed, clientsDropped: instructions.length - completed,
      timing: { train: trainSeconds, clientTrainCpu: clientTrainSeconds, aggregation: agg.seconds, evaluate: ev.seconds },
      aggregation,
    };
    ctx.log.append(rec);
    ctx.progress.endRound(`ndcg10 ${rec.ndcg10.toFixed(4)} auc ${rec.auc.toFixed(4)} clients ${completed}/${instructions.length}`);
  }
}
