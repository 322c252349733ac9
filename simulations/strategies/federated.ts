import seedrandom from 'seedrandom';
import { createStrategy, type StrategyConfigInput } from '../../shared/aggregation/strategy.js';
import { FedProfileError } from '../../shared/errors.js';
import type { StrategySpec } from '../config.js';
import {
  abortable, checkAborted, evalNumbers, learningRateOf, totalRounds, type RunContext,
} from '../context.js';
import { POOLED } from '../pool/protocol.js';
import type { RoundRecord } from '../report/index.js';
import { aggregateRound } from './aggregate.js';

type FederatedSpec = Extract<StrategySpec, { name: 'fedavg' | 'fedprox' | 'fedavgm' | 'fedadam' | 'fedyogi' }>;

function strategyInput(ctx: RunContext, spec: FederatedSpec): StrategyConfigInput {
  const t = ctx.cfg.training;
  const perRound = Math.min(t.clientsPerRound ?? ctx.clientIds.length, ctx.clientIds.length);
  const base: StrategyConfigInput = {
    name: spec.name, clientsPerRound: perRound, overSelection: 1, minFitClients: 1,
    localEpochs: t.localEpochs, batchSize: t.batchSize, learningRate: t.learningRate, optimizer: t.optimizer,
    maxExamples: t.maxExamplesPerClient, pretrainRounds: t.pretrainRounds, evaluateEvery: 0,
  };
  if (spec.name === 'fedprox') return { ...base, proximalMu: spec.mu };
  if (spec.name === 'fedavgm') return { ...base, serverLearningRate: spec.serverLearningRate, serverMomentum: spec.serverMomentum };
  if (spec.name === 'fedadam' || spec.name === 'fedyogi') {
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
export async function runFederated(ctx: RunContext, spec: FederatedSpec): Promise<void> {
  const { cfg, pool, signal } = ctx;
  const strategy = createStrategy(strategyInput(ctx, spec));
  const sampleRng = seedrandom(`${cfg.seed}/${spec.name}/sample`);
  const faultRng = seedrandom(`${cfg.seed}/${spec.name}/faults`);
  const available = ctx.clientIds.map((id) => ({ id, numExamples: ctx.trainSizes.get(id)! }));
  const maxWeight = Math.max(1, ...ctx.clientIds.map((id) => Math.min(ctx.trainSizes.get(id)!, cfg.training.maxExamplesPerClient)));
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
    const t0 = performance.now();
    const instructions = strategy.configureFit(round, available, sampleRng);
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
      const r = await pool.run({ kind: 'fit', clientId: ins.clientId, global, config: { ...ins.config, learningRate: lr } });
      ctx.progress.clientDone();
      if (r.kind !== 'fit') throw new FedProfileError('INTERNAL', 'unexpected pool result');
      return [ins.clientId, r] as const;
    })), signal);
    const trainSeconds = (performance.now() - tTrain) / 1000;
    const clientTrainSeconds = fits.reduce((s, [, r]) => s + r.seconds, 0);
    const updates = new Map(fits.map(([id, r]) => [id, { update: r.delta, weight: Math.max(1, Math.min(r.numExamples, maxWeight)) }]));
    const agg = aggregateRound({
      cfg, strategy: spec.name, round, participants: instructions.map((i) => i.clientId), updates, dropped, stragglers,
      dimension: ctx.manifest.totalSize, maxWeight,
    });
    let completed = 0;
    const aggregation: Record<string, number> = { ...agg.metrics };
    if (agg.outcome.status === 'done') {
      const contributors = agg.outcome.contributors;
      completed = contributors.length;
      const step = strategy.aggregateFit(round, global, agg.outcome.mean, {
        contributors: completed, totalWeight: agg.outcome.totalWeight, failures: instructions.length - completed,
      });
      global = step.weights;
      Object.assign(aggregation, step.metrics);
      for (const id of contributors) participation[id] = (participation[id] ?? 0) + 1;
    } else if (agg.outcome.status === 'aborted') {
      aggregation.aborted = 1;
      ctx.progress.note(`[${spec.name}] round ${round}: aggregation aborted (${agg.outcome.reason}); the global model is unchanged`);
    }
    const ev = await abortable(pool.run({ kind: 'evaluate', clientId: POOLED, global, evalSeed: cfg.seed }), signal);
    if (ev.kind !== 'evaluate') throw new FedProfileError('INTERNAL', 'unexpected pool result');
    // Every invited client downloads the global model; the aggregation protocol's own traffic is added.
    const bytesDown = instructions.length * ctx.modelBytes + agg.bytesDown;
    const bytesUp = agg.bytesUp;
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
