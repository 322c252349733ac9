import type { EvaluationMetrics } from '../../shared/training/evaluate.js';
import type { FitConfig } from '../../shared/training/types.js';
import { applyDelta } from '../../shared/weights/delta.js';
import {
  abortable, checkAborted, learningRateOf, seedFor, totalRounds, weightedEvalNumbers, type RunContext,
} from '../context.js';

/**
 * The lower bound: each client trains alone, by default for as many epochs as the federation runs in total
 * (pre-training, then fine-tuning), and is scored on its own test users; metrics are weighted by test users. No bytes move.
 */
export async function runLocal(ctx: RunContext, finetuneEpochs?: number): Promise<void> {
  const { cfg, pool, signal } = ctx;
  const t = cfg.training;
  const rounds = totalRounds(cfg);
  ctx.progress.startStrategy('local', 1);
  ctx.progress.startRound(rounds, ctx.clientIds.length);
  const t0 = performance.now();
  let trainSeconds = 0;
  let evalSeconds = 0;
  const phases: { phase: FitConfig['phase']; epochs: number; round: number }[] = [];
  if (t.pretrainRounds > 0) phases.push({ phase: 'pretrain', epochs: t.pretrainRounds * t.localEpochs, round: 1 });
  phases.push({ phase: 'finetune', epochs: finetuneEpochs ?? t.rounds * t.localEpochs, round: rounds });
  const one = async (clientId: string): Promise<{ n: number; m: EvaluationMetrics | null }> => {
    let weights = ctx.initial;
    for (const p of phases) {
      checkAborted(signal);
      const config: FitConfig = {
        round: p.round, phase: p.phase, localEpochs: p.epochs, batchSize: t.batchSize, learningRate: learningRateOf(cfg, p.round),
        optimizer: t.optimizer, maxExamples: t.maxExamplesPerClient, seed: seedFor(cfg.seed, `local/${clientId}/${p.phase}`),
      };
      const fit = await pool.run({ kind: 'fit', clientId, global: weights, config: { ...config, selectByValidation: true } });
      if (fit.kind !== 'fit') throw new Error('unexpected pool result');
      trainSeconds += fit.seconds;
      weights = applyDelta(weights, fit.delta);
    }
    checkAborted(signal);
    const ev = await pool.run({ kind: 'evaluate', clientId, global: weights, evalSeed: cfg.seed });
    if (ev.kind !== 'evaluate') throw new Error('unexpected pool result');
    evalSeconds += ev.seconds;
    ctx.progress.clientDone();
    return { n: ev.metrics?.n ?? 0, m: ev.metrics };
  };
  // Results are combined in client order, whatever order the pool finishes them in.
  const parts = await abortable(Promise.all(ctx.clientIds.map(one)), signal);
  const seconds = (performance.now() - t0) / 1000;
  const rec = {
    strategy: 'local', round: rounds, phase: 'finetune' as const, ...weightedEvalNumbers(parts),
    seconds, totalSeconds: seconds, bytesUp: 0, bytesDown: 0, totalBytesUp: 0, totalBytesDown: 0,
    clientsSelected: ctx.clientIds.length, clientsCompleted: ctx.clientIds.length, clientsDropped: 0,
    timing: { train: trainSeconds, evaluate: evalSeconds },
  };
  ctx.log.append(rec);
  ctx.progress.endRound(`ndcg10 ${rec.ndcg10.toFixed(4)} auc ${rec.auc.toFixed(4)}`);
}
