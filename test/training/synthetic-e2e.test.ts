import { expect } from 'chai';
import { cleanEvents } from '../../shared/data/clean.js';
import { buildExamples } from '../../shared/data/examples.js';
import { createHasher } from '../../shared/data/hashing.js';
import { PROFILE_SMALL, type ModelConfig } from '../../shared/model/config.js';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { initBackend } from '../../shared/tf/index.js';
import { evaluateBaselines } from '../../shared/training/baselines.js';
import { evaluateModel } from '../../shared/training/evaluate.js';
import { trainLocal } from '../../shared/training/trainer.js';
import { generateSynthetic, truthInterestIds } from '../../simulations/synthetic/index.js';

describe('training/end to end on synthetic data', function () {
  // ~35 s of CPU on one core; more wall time when the machine is busy.
  this.timeout(300_000);

  it('pretrain + finetune beats the popularity baseline on NDCG@10 and the majority tier', async () => {
    await initBackend();
    const data = generateSynthetic({ seed: 5, users: 200 });
    const cfg: ModelConfig = { ...PROFILE_SMALL, dModel: 32, ffDim: 64 };
    const hasher = createHasher({
      key: 'test-key', itemVocab: cfg.itemVocab, categoryVocab: cfg.categoryVocab, textVocab: cfg.textVocab,
      knownCategories: data.catalogue.categories.map((c) => c.id),
    });
    const ex = buildExamples(cleanEvents(data.events).users, hasher, cfg, { slidingPrefixes: true });
    const baseline = evaluateBaselines(ex.train, ex.test, {
      k: 10, seed: 1, itemVocab: cfg.itemVocab, categoryVocab: cfg.categoryVocab, numTiers: cfg.numTiers,
    });
    const model = ProfileModel.create(cfg, 1);
    try {
      const common = { round: 0, batchSize: 32, learningRate: 0.005, optimizer: 'adam' as const, seed: 1 };
      trainLocal(model, { train: ex.train }, { ...common, phase: 'pretrain', localEpochs: 3 });
      trainLocal(model, { train: ex.train }, { ...common, phase: 'finetune', localEpochs: 2 });
      const m = evaluateModel(model, ex.test, { k: 10, seed: 1 });
      // Interests scored against the generator's latent top-3 categories instead of the label window.
      const interestTruth = new Map(data.truth.map((t) => [hasher.userKey(t.userId), new Set(truthInterestIds(t, hasher, 3))]));
      const mTruth = evaluateModel(model, ex.test, { k: 10, seed: 1, interestTruth });
      const bTruth = evaluateBaselines(ex.train, ex.test, {
        k: 10, seed: 1, itemVocab: cfg.itemVocab, categoryVocab: cfg.categoryVocab, numTiers: cfg.numTiers, interestTruth,
      });
      if (process.env.FEDPROFILE_TEST_VERBOSE) {
        console.log(JSON.stringify({ model: m, baseline, latentInterestP3: { model: mTruth.interestP3, baseline: bTruth.interestP3 } }));
      }
      expect(m.n).to.equal(baseline.n);
      expect(m.ndcg10, JSON.stringify({ model: m, baseline })).to.be.greaterThan(baseline.ndcg10 * 1.2);
      expect(m.hr10Sampled).to.be.greaterThan(baseline.hr10Sampled);
      expect(m.tierAcc).to.be.greaterThan(baseline.tierAcc + 0.1);
      expect(m.interestP3).to.be.greaterThan(0.3);
    } finally {
      model.dispose();
    }
  });
});
