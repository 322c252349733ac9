import type { EncodedSequence } from '../shared/data/encoded.js';
import { loadFlatWeights } from '../shared/model/init.js';
import { ProfileModel } from '../shared/model/profile-model.js';
import { evaluateProfiles, heldOutProfileAges, type ProfileEvaluation } from '../shared/training/profile-eval.js';
import type { SimulationConfig } from './config.js';
import type { SimulationData } from './data-source.js';

/**
 * Completeness, timeliness and explanation faithfulness of the profiles each strategy's final global model
 * gives the held-out test users of every client (their histories without the test window). Staleness is that
 * of profiles refreshed at the time-window cut-off, against each user's newest event (none under leave-one-out).
 */
export function profileQuality(
  cfg: SimulationConfig, data: SimulationData, finalModels: Readonly<Record<string, Float32Array>>, testInputs: readonly EncodedSequence[],
): Record<string, ProfileEvaluation> {
  const out: Record<string, ProfileEvaluation> = {};
  if (testInputs.length === 0) return out;
  // Staleness is that of the time-window cut-off; leave-one-out holds out one event, not a window of time.
  const ages = cfg.examples.protocol === 'leave-one-out'
    ? undefined
    : heldOutProfileAges(data.units.values(), { testFraction: cfg.examples.testFraction, validationFraction: cfg.examples.validationFraction });
  const model = ProfileModel.create(cfg.model, cfg.seed);
  try {
    for (const [strategy, weights] of Object.entries(finalModels)) {
      loadFlatWeights(model, weights);
      out[strategy] = evaluateProfiles(model, testInputs, { seed: cfg.seed, ...(ages ? { ages } : {}) });
    }
  } finally {
    model.dispose();
  }
  return out;
}
