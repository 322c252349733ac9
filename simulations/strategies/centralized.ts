import { applyDelta } from '../../shared/weights/delta.js';
import type { FitConfig } from '../../shared/training/types.js';
import {
  abortable, checkAborted, evalNumbers, learningRateOf, phaseOf, seedFor, totalRounds, type RunContext,
} from '../context.js';
import { POOLED } from '../pool/protocol.js';

/**
 * The upper bound: every client's training data pooled on one machine, trained with the same local
 * trainer for as many rounds (epochsPerRound each, by default the clients' local epochs), evaluated on the
 * same pooled test users.
 */
export async function runCentralized(ctx: RunContext, opts: { epochsPerRound?: number; batchSize?: number; learningRate?: number } = {}): Promise<void> {
  const { cfg, pool, signal } = ctx;
  const t = cfg.training;
  let global = ctx.initial;
  let total = 0;
  const rounds = totalRounds(cfg);
  ctx.progress.startStrategy('centralized', rounds);
  for (let round = 1; round <= rounds; round++) {
    checkAborted(signal);
    const t0 = performance.now();
    ctx.progress.startRound(round, 1);
    const config: FitConfig = {
      round, phase: phaseOf(cfg, round), localEpochs: opts.epochsPerRound ?? t.localEpochs, batchSize: opts.batchSize ?? t.batchSize,
      learningRate: opts.learningRate ?? learningRateOf(cfg, round), optimizer: t.optimizer, seed: seedFor(cfg.seed, `centralized/${round}`),
    };
    const fit = await abortable(pool.run({ kind: 'fit', clientId: POOLED, global, config: { ...config, selectByValidation: true } }), signal);
    if (fit.kind !== 'fit') throw new Error('unexpected pool result');
    global = applyDelta(global, fit.delta);
    ctx.progress.clientDone();
    ctx.finalModels.centralized = global;
    const ev = await abortable(pool.run({ kind: 'evaluate', clientId: POOLED, global, evalSeed: cfg.seed }), signal);
    if (ev.kind !== 'evaluate') throw new Error('unexpected pool result');
    const seconds = (performance.now() - t0) / 1000;
    total += seconds;
    const rec = {
      strategy: 'centralized', round, phase: config.phase, ...evalNumbers(ev.metrics),
      seconds, totalSeconds: total, bytesUp: 0, bytesDown: 0, totalBytesUp: 0, totalBytesDown: 0,
      clientsSelected: 1, clientsCompleted: 1, clientsDropped: 0,
      timing: { train: fit.seconds, evaluate: ev.seconds },
    };
    ctx.log.append(rec);
    ctx.progress.endRound(`ndcg10 ${rec.ndcg10.toFixed(4)} auc ${rec.auc.toFixed(4)}`);
  }
}
