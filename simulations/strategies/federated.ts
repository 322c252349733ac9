import { seededUniform } from '../../shared/random.js';
import { simulationGraphIndex, simulationRoundingSeed } from './simulation-seeds.js';
import { createStrategy, type StrategyConfigInput } from '../../shared/aggregation/strategy.js';
import { FedProfileError } from '../../shared/errors.js';
import { ExactPart } from '../../shared/compression/exact-part.js';
import type { StrategySpec } from '../config.js';
import { abortable, evalNumbers, phaseOf, totalRounds, type RunContext } from '../context.js';
import { VirtualFederation, type Fault, type RoundVector, type VirtualClient, type VirtualRound } from '../federated/virtual-federation.js';
import { POOLED } from '../pool/protocol.js';
import type { RoundRecord } from '../report/index.js';
import { PeftRounds } from '../federated/peft-rounds.js';
import type { PeftSlice } from '../../shared/peft/bitfit.js';
import { plannerFromStrategy } from '../../shared/round/planner.js';
import { attackedUpdate, attackersOf, decodedDownload, downloadBytes, l2Norm } from '../federated/client-transforms.js';
import { needsProtection, poissonPlanner, protectionReport, simulationClientNoise, simulationProtection } from '../federated/protection.js';

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
 * sessions (plain or SecAgg+) wrapped by the coordinator's UpdateProtection (DP-FedAvg, robust rules,
 * upload decoding) produce the mean, the strategy's server step commits it. Simulated clients go through
 * the real client's transforms (clipping, noise shares, upload encoding with error feedback); attackers
 * replace their update and skip those safeguards. This file only scores each new global model on every
 * client's held-out test users and writes the round record.
 */
export async function runFederated(ctx: RunContext, spec: FederatedSpec): Promise<void> {
  const { cfg, pool, signal } = ctx;
  const dp = cfg.dp?.enabled ? cfg.dp : undefined;
  const poisson = dp?.sampling === 'poisson';
  const planned = strategyInput(ctx, spec);
  const perRound = planned.clientsPerRound ?? ctx.clientIds.length;
  const q = Math.min(1, perRound / ctx.clientIds.length);
  // Poisson sampling: the strategy offers everyone and the planner keeps each client with rate q.
  const strategy = createStrategy(poisson ? { ...planned, clientsPerRound: ctx.clientIds.length, overSelection: 1, minFitClients: 1 } : planned);
  // The federated statistics: float32 beside lossy wire codecs, and the plain mean under any server optimiser.
  const statistics = ExactPart.statistics(ctx.manifest.specs);
  const protection = needsProtection(cfg) ? simulationProtection(cfg, spec.name, statistics, perRound, ctx.clientIds.length) : undefined;
  const attackers = attackersOf(cfg, ctx.clientIds);
  const downloadCodec = cfg.compression?.download ?? 'f32';
  const exactDownload = downloadCodec === 'f32' ? null : statistics;
  // Honest update norms are reported for experiments with DP, robust rules, attackers, compression or PEFT
  // (bench:privacy calibrates clipNorm from them); plain records stay as they were.
  const reportsNorms = Boolean(protection || cfg.attack || cfg.compression || cfg.peft);
  /** Per round: honest clients' update norms before any clipping (DP and attack reports). */
  const honestNorms = new Map<number, number[]>();
  // PEFT: a fine-tuning round trains and aggregates only its slice (see PeftRounds for which one).
  const peft = cfg.peft ? new PeftRounds(cfg, ctx.manifest) : undefined;
  const slices = new Map<number, PeftSlice | undefined>();
  const roundVector = (round: number): RoundVector | undefined => {
    const slice = peft?.roundSlice(phaseOf(cfg, round));
    slices.set(round, slice);
    if (!slice) return undefined;
    return { length: slice.size, trainOnly: slice.names, exactPart: peft!.exactPart(slice), scatter: (mean) => slice.scatter(mean) };
  };
  const faultRng = seededUniform(`${cfg.seed}/${spec.name}/faults`);
  const faultOf = (): Fault | undefined => {
    const u = faultRng();
    if (u < cfg.dropout) return 'dropout';
    if (u < cfg.dropout + cfg.stragglers.rate) return 'straggler';
    return undefined;
  };
  const clients = new Map<string, VirtualClient>(ctx.clientIds.map((clientId) => [clientId, {
    ignoresPrivacy: attackers.has(clientId),
    fit: async (global, config) => {
      const r = await pool.run({ kind: 'fit', clientId, global: decodedDownload(global, downloadCodec, exactDownload), config });
      if (r.kind !== 'fit') throw new FedProfileError('INTERNAL', 'unexpected pool result');
      ctx.progress.clientDone();
      const slice = slices.get(config.round);
      const delta = slice ? slice.extract(r.delta) : r.delta;
      if (attackers.has(clientId)) return { ...r, delta: attackedUpdate(cfg, delta) };
      if (reportsNorms) {
        const norms = honestNorms.get(config.round) ?? [];
        norms.push(l2Norm(delta));
        honestNorms.set(config.round, norms);
      }
      return { ...r, delta };
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
  let globalAtStart = ctx.initial;
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
    Object.assign(aggregation, protectionReport({ cfg, attackers: attackers.size, dp: protection?.dp, expectedRate: q }, r, honestNorms.get(r.round) ?? []));
    honestNorms.delete(r.round);
    const slice = slices.get(r.round);
    slices.delete(r.round);
    if (slice) {
      aggregation.peftParameters = slice.size;
      if (slice.statistics) aggregation.peftStatistics = 1;
    }
    if (r.status === 'failed') {
      aggregation.aborted = 1;
      ctx.progress.note(`[${spec.name}] round ${r.round}: aggregation aborted (${r.reason}); the global model is unchanged`);
    }
    ctx.finalModels[spec.name] = r.global;
    const ev = await abortable(pool.run({ kind: 'evaluate', clientId: POOLED, global: r.global, evalSeed: cfg.seed }), signal);
    if (ev.kind !== 'evaluate') throw new FedProfileError('INTERNAL', 'unexpected pool result');
    // Every invited client downloads the global model; the aggregation protocol's own traffic is added.
    const downloaded = peft
      ? peft.downloads(r.participants, globalAtStart, downloadCodec, slice)
      : r.participants.length * (downloadCodec === 'f32' ? ctx.modelBytes : downloadBytes(globalAtStart, downloadCodec, exactDownload));
    const bytesDown = downloaded + r.bytesDown;
    peft?.endRound(slice, r.status === 'completed', globalAtStart);
    globalAtStart = r.global;
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
    ...(protection ? { protection, clientNoiseOf: simulationClientNoise(cfg, spec.name) } : {}),
    ...(poisson ? { planner: poissonPlanner(plannerFromStrategy(strategy), cfg, spec.name, q) } : {}),
    ...(peft ? { roundVector } : {}),
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
  if (federation.stoppedBy) ctx.progress.note(`[${spec.name}] stopped early: ${federation.stoppedBy}`);
}
