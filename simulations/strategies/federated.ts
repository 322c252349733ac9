import { seededUniform } from '../../shared/random.js';
import { simulationGraphIndex, simulationRoundingSeed } from './simulation-seeds.js';
import { createStrategy, type StrategyConfigInput } from '../../shared/aggregation/strategy.js';
import { FedProfileError } from '../../shared/errors.js';
import { ExactPart } from '../../shared/compression/exact-part.js';
import type { StrategySpec } from '../config.js';
import { abortable, evalNumbers, totalRounds, type RunContext } from '../context.js';
import { VirtualFederation, type Fault, type VirtualClient, type VirtualRound } from '../federated/virtual-federation.js';
import { POOLED } from '../pool/protocol.js';
import type { RoundRecord } from '../report/index.js';
import { runFederatedWithPrivacyHooks, usesPrivacyHooks } from './federated-privacy.js';

type FederatedSpec = Extract<StrategySpec, { name: 'fedavg' | 'fedprox' | 'fedavgm' | 'fedadam' | 'fedyogi' }>;

/** The federation's strategy settings from the experiment: the same schema the coordinator validates. */
export function strategyInput(ctx: Pick<RunContext, 'cfg' | 'clientIds' | 'trainSizes'>, spec: FederatedSpec): StrategyConfigInput {
  const t = ctx.cfg.training;
  const perRound = Math.min(t.clientsPerRound ?? ctx.clientIds.length, ctx.clientIds.length);
  // One weight cap for plain and SecAgg+: no client trains on more than it holds, so the cap is the largest capped size.
  const weightCap = Math.max(1, ...ctx.clientIds.map((id) => Math.min(ctx.trainSizes.get(id)!, t.maxExamplesPerClient)));
  const base: StrategyConfigInput = {
    name: spec.name, clientsPerRound: perRound, overSelection: t.overSelection, minFitClients: Math.min(t.minFitClients, perRound),
    localEpochs: t.localEpochs, batchSize: t.batchSize, learningRate: t.learningRate, optimizer: t.optimizer,
    maxExamples: weightCap, pretrainRounds: t.pretrainRounds, evaluateEvery: t.evaluateEvery, selectByValidation: t.selectByValidation,
    ...(t.pretrainLearningRate !== undefined ? { pretrainLearningRate: t.pretrainLearningRate } : {}),
  };
  if (spec.name === 'fedprox') return { ...base, proximalMu: spec.mu };
  if (spec.name === 'fedavgm') return { ...base, serverLearningRate: spec.serverLearningRate, serverMomentum: spec.serverMomentum };
  if (spec.name === 'fedadam' || spec.name === 'fedyogi') {
    return { ...base, serverLearningRate: spec.serverLearningRate, beta1: spec.beta1, beta2: spec.beta2, tau: spec.tau };
  }
  return base;
}

/**
 * Federated rounds through the coordinator's own round engine (VirtualFederation): the engine selects and
 * configures clients with the strategy, the pool trains them with the client fit body, the aggregation
 * sessions (plain or SecAgg+) produce the mean, the strategy's server step commits it; this file only
 * scores each new global model on every client's held-out test users and writes the round record.
 */
export async function runFederated(ctx: RunContext, spec: FederatedSpec): Promise<void> {
  // DP-FedAvg, robust rules, attackers, wire compression and PEFT still run on their own round loop.
  if (usesPrivacyHooks(ctx.cfg)) return runFederatedWithPrivacyHooks(ctx, spec);
  const { cfg, pool, signal } = ctx;
  const strategy = createStrategy(strategyInput(ctx, spec));
  const statistics = ExactPart.statistics(ctx.manifest.specs);
  const faultRng = seededUniform(`${cfg.seed}/${spec.name}/faults`);
  const faultOf = (): Fault | undefined => {
    const u = faultRng();
    if (u < cfg.dropout) return 'dropout';
    if (u < cfg.dropout + cfg.stragglers.rate) return 'straggler';
    return undefined;
  };
  const clients = new Map<string, VirtualClient>(ctx.clientIds.map((clientId) => [clientId, {
    fit: async (global, config) => {
      const r = await pool.run({ kind: 'fit', clientId, global, config });
      if (r.kind !== 'fit') throw new FedProfileError('INTERNAL', 'unexpected pool result');
      ctx.progress.clientDone();
      return r;
    },
    evaluate: async (global) => {
      const r = await pool.run({ kind: 'evaluate', clientId, global, evalSeed: cfg.seed });
      if (r.kind !== 'evaluate') throw new FedProfileError('INTERNAL', 'unexpected pool result');
      const { n, ...metrics } = r.metrics ?? { n: 0 };
      return { numExamples: n, metrics: metrics as Record<string, number> };
    },
  }]));
  const participation: Record<string, number> = Object.fromEntries(ctx.clientIds.map((id) => [id, 0]));
  ctx.participation[spec.name] = participation;
  const rounds = totalRounds(cfg);
  const secagg = cfg.secureAggregation.enabled;
  let totalSeconds = 0;
  let totalUp = 0;
  let totalDown = 0;
  let roundStarted = performance.now();
  ctx.progress.startStrategy(spec.name, rounds);

  const onRound = async (r: VirtualRound): Promise<void> => {
    const completed = r.contributors.length;
    for (const id of r.contributors) participation[id] = (participation[id] ?? 0) + 1;
    const aggregation: Record<string, number> = { deadlines: r.deadlinesPassed };
    if (secagg) aggregation.rejectedMessages = r.rejected;
    for (const [k, v] of Object.entries(r.metrics)) {
      if (k.startsWith('agg.')) aggregation[k.slice(4)] = v;
      else if (k.startsWith('server.')) aggregation[k.slice(7)] = v;
    }
    if (r.status === 'failed') {
      aggregation.aborted = 1;
      ctx.progress.note(`[${spec.name}] round ${r.round}: aggregation aborted (${r.reason}); the global model is unchanged`);
    }
    ctx.finalModels[spec.name] = r.global;
    const ev = await abortable(pool.run({ kind: 'evaluate', clientId: POOLED, global: r.global, evalSeed: cfg.seed }), signal);
    if (ev.kind !== 'evaluate') throw new FedProfileError('INTERNAL', 'unexpected pool result');
    // Every invited client downloads the global model; the aggregation protocol's own traffic is added.
    const bytesDown = r.participants.length * ctx.modelBytes + r.bytesDown;
    const seconds = (performance.now() - roundStarted) / 1000;
    totalSeconds += seconds;
    totalUp += r.bytesUp;
    totalDown += bytesDown;
    const rec: RoundRecord = {
      strategy: spec.name, round: r.round, phase: r.round <= cfg.training.pretrainRounds ? 'pretrain' : 'finetune',
      ...evalNumbers(ev.metrics),
      seconds, totalSeconds, bytesUp: r.bytesUp, bytesDown, totalBytesUp: totalUp, totalBytesDown: totalDown,
      clientsSelected: r.participants.length, clientsCompleted: completed, clientsDropped: r.participants.length - completed,
      timing: { train: r.trainSeconds, clientTrainCpu: r.clientTrainSeconds, aggregation: r.aggregationSeconds, evaluate: ev.seconds },
      aggregation,
    };
    ctx.log.append(rec);
    ctx.progress.endRound(`ndcg10 ${rec.ndcg10.toFixed(4)} auc ${rec.auc.toFixed(4)} clients ${completed}/${r.participants.length}`);
    if (r.round < rounds) ctx.progress.startRound(r.round + 1, strategy.config.clientsPerRound);
    roundStarted = performance.now();
  };

  const federation = new VirtualFederation({
    federationId: `simulation-${cfg.seed}-${spec.name}`, seed: cfg.seed, rounds, strategy, initial: ctx.initial, clients,
    ...(statistics ? { exactRanges: statistics.exactRanges } : {}),
    faultOf, onRound, signal,
    ...(secagg ? {
      secureAggregation: {
        clip: cfg.secureAggregation.clip, expectedDropout: Math.min(0.45, cfg.dropout + cfg.stragglers.rate),
        ...(cfg.secureAggregation.neighbors !== undefined ? { neighbors: cfg.secureAggregation.neighbors } : {}),
        ...(cfg.secureAggregation.threshold !== undefined ? { threshold: cfg.secureAggregation.threshold } : {}),
      },
      // A SecAgg+ dropout leaves after sharing its keys, so its pairwise masks must be recovered.
      dropAfterMessages: 2,
      graphRandomIndex: (round: number) => simulationGraphIndex(cfg.seed, spec.name, round),
      roundingSeedOf: (round: number, id: string) => simulationRoundingSeed(cfg.seed, spec.name, round, id),
    } : {}),
  });
  ctx.progress.startRound(1, strategy.config.clientsPerRound);
  await abortable(federation.run(), signal);
}
