import type { UserExample } from '../../shared/data/encoded.js';
import { FedProfileError } from '../../shared/errors.js';
import { loadFlatWeights } from '../../shared/model/init.js';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { itemPopularity } from '../../shared/training/baselines.js';
import { evaluateModel } from '../../shared/training/evaluate.js';
import { fitFromLoadedWeights } from '../../shared/training/session.js';
import { POOLED, type ClientData, type PoolInit, type PoolResult, type PoolTask } from './protocol.js';

/**
 * The body of a pool worker, free of thread plumbing: one model whose weights are overwritten by each task's
 * global vector, so the result of a task depends only on (global, client data, config), never on which
 * worker ran it or what it ran before. A fit is the client SDK's own fit body (fitFromLoadedWeights).
 */
export function createClientWork(init: PoolInit): (task: PoolTask) => PoolResult {
  const model = ProfileModel.create(init.modelConfig, init.seed);
  const pooled: ClientData = { train: [], validation: [], test: [] };
  for (const id of Object.keys(init.clients).sort()) {
    const c = init.clients[id]!;
    pooled.train.push(...c.train);
    pooled.validation.push(...c.validation);
    pooled.test.push(...c.test);
  }
  const truth = init.interestTruth
    ? new Map(Object.entries(init.interestTruth).map(([k, v]) => [k, new Set(v)]))
    : undefined;
  const dataOf = (clientId: string): ClientData => {
    if (clientId === POOLED) return pooled;
    const c = init.clients[clientId];
    if (!c) throw new FedProfileError('INTERNAL', `pool worker has no data for client ${clientId}`);
    return c;
  };

  const evaluation = init.training.evaluation ?? {};
  // One popularity for every client's sampled negatives, so strategies and baselines share the same negatives.
  const negativeWeights = evaluation.popularityNegatives ? itemPopularity(pooled.train, init.modelConfig.itemVocab) : undefined;

  return (task) => {
    const t0 = performance.now();
    const data = dataOf(task.clientId);
    loadFlatWeights(model, task.global);
    if (task.kind === 'fit') {
      // The same fit body as a real client's training worker (validation-based epoch selection included).
      const r = fitFromLoadedWeights(model, { train: data.train, validation: data.validation }, task.global, task.config, init.training);
      return { kind: 'fit', ...r, seconds: (performance.now() - t0) / 1000 };
    }
    const examples: readonly UserExample[] = data.test;
    const metrics = examples.length === 0 ? null : evaluateModel(model, examples, {
      k: init.training.k ?? 10, seed: task.evalSeed, interestTruth: truth,
      ...(evaluation.excludeHistory ? { excludeHistory: true } : {}), ...(negativeWeights ? { negativeWeights } : {}),
    });
    return { kind: 'evaluate', metrics, seconds: (performance.now() - t0) / 1000 };
  };
}
