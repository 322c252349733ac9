import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import type { UserExample } from '../../shared/data/encoded.js';
import type { ModelConfig } from '../../shared/model/config.js';
import {
  AUC_BINS, binnedAuc, chooseHeadGate, GATE_TOLERANCE, HEAD_GATE_GRID, HEAD_GATE_SIZE, HEAD_GATE_WEIGHT, HeadGateSums, LOGIT_RANGE, logitBin,
  type GateObservation,
} from '../../shared/model/head-gate.js';
import { disposeBatch, toBatch } from '../../shared/model/batch.js';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { evaluateNamedBaselines } from '../../shared/training/baselines.js';
import { evaluateModel } from '../../shared/training/evaluate.js';
import { refreshHeadGate } from '../../shared/training/head-gate-refresh.js';
import { rocAuc } from '../../shared/training/metrics.js';
import { initBackend } from '../../shared/tf/backend.js';
import { handExample, TINY } from '../training/fixtures.js';

const CFG: ModelConfig = { ...TINY, transitionItems: 6 };

/** Users whose label interest is their most recent category, and who buy iff they bought before. */
function ruleUsers(n: number, seed: string): UserExample[] {
  const rand = seedrandom(seed);
  return Array.from({ length: n }, (_, u) => {
    const len = 4 + Math.floor(rand() * 4);
    const categories = Array.from({ length: len }, () => 1 + Math.floor(rand() * 5));
    const buyer = rand() < 0.4;
    const actions = categories.map((_, i) => (buyer && i === 1 ? 4 : 1));
    return handExample({
      userKey: `u${u}`, items: categories.map((c) => 2 + c), categories, actions,
      interests: [categories[len - 1]!], purchased: buyer ? 1 : 0, next: [3],
    });
  });
}

/** Points the trained heads away from the rules: interests prefer category 5, propensity ignores purchases. */
function spoilHeads(model: ProfileModel): void {
  const set = (name: string, f: (v: Float32Array) => void) => {
    const w = model.maybeWeight(name)!;
    const v = (w.dataSync() as Float32Array).slice();
    f(v);
    w.assign(tf.tensor(v, w.shape));
  };
  set('head/interests/bias', (v) => { v[5] = 40; v[4] = 36; v[3] = 32; });
  set('head/propensity/wide', (v) => v.fill(0));
}

describe('quality/head gate (each head blends its rule and its trained self, chosen on validation)', () => {
  before(async () => { await initBackend('cpu'); });

  it('reads AUC off histograms exactly when every score has its own bin, and counts a shared bin half', () => {
    const scores = [-7.9, -3, -1, 0.1, 2, 6];
    const labels = [0, 1, 0, 0, 1, 1];
    const pos = new Float64Array(AUC_BINS);
    const neg = new Float64Array(AUC_BINS);
    scores.forEach((s, i) => { (labels[i] ? pos : neg)[logitBin(s)]! += 1; });
    expect(binnedAuc(pos, neg)).to.be.closeTo(rocAuc(scores, labels), 1e-12);
    const one = new Float64Array(AUC_BINS);
    one[3] = 1;
    expect(binnedAuc(one, one)).to.equal(0.5);
    expect(binnedAuc(one, new Float64Array(AUC_BINS))).to.be.NaN;
    expect(logitBin(-Infinity)).to.equal(0);
    expect(logitBin(LOGIT_RANGE * 3)).to.equal(AUC_BINS - 1);
  });

  it('chooses the α with the best pooled sums, the trained head on ties, and the trained head without validation', () => {
    expect(chooseHeadGate(new Float32Array(HEAD_GATE_SIZE))).to.deep.equal({ interests: 1, propensity: 1 });
    const sums = new HeadGateSums();
    // Interests: the rule ranks the truth first, the trained head third; propensity: the trained head separates.
    const obs = (purchased: boolean, trained: number, rule: number): GateObservation => ({
      interestRule: [0, 3, 2, 1], interestTrained: [0, 1, 2, 3], interestTruth: new Set([1]),
      propensityRule: rule, propensityTrained: trained, purchased,
    });
    sums.add(obs(true, 4, -1));
    sums.add(obs(false, -4, 1));
    const gate = chooseHeadGate(sums.finish(1));
    // Interests: with three categories every α puts the truth in the top 3, a tie, which keeps the trained head.
    expect(gate.interests).to.equal(1);
    // Propensity: α = 0 ranks the buyer last (AUC 0), every α from 0.25 on ranks it first (AUC 1): the largest.
    expect(gate.propensity).to.equal(1);
    const narrow = new HeadGateSums();
    const four = (truth: number): GateObservation => ({
      interestRule: [0, 4, 3, 2, 1, 0], interestTrained: [0, 0, 1, 2, 3, 4], interestTruth: new Set([truth]),
      propensityRule: 0, propensityTrained: 0, purchased: false,
    });
    narrow.add(four(1));
    narrow.add(four(1));
    // α = 0, 0.25 and 0.5 (an all-equal tie broken by id) rank category 1 in the top 3; 0.75 and 1 do not.
    expect(chooseHeadGate(narrow.finish(1)).interests).to.equal(0.5);
    expect(() => chooseHeadGate(new Float32Array(3))).to.throw(RangeError);
    // Within GATE_TOLERANCE of the best, the largest α wins; beyond it, the best.
    // Sums as a client writes them: over 300 users, divided by a FedAvg weight of 500 · 64.
    const interestsOnly = (p3: number[]) => {
      const v = new Float32Array(HEAD_GATE_SIZE);
      v.set(p3.map((p) => (p * 300) / 32000), 0);
      v[HEAD_GATE_GRID.length] = 300 / 32000;
      return chooseHeadGate(v).interests;
    };
    expect(interestsOnly([0.7, 0.72, 0.71, 0.7, 0.72 - GATE_TOLERANCE / 2])).to.equal(1);
    expect(interestsOnly([0.7, 0.72, 0.71, 0.7, 0.72 - GATE_TOLERANCE * 2])).to.equal(0.25);
    expect(interestsOnly([0.8, 0.7, 0.6, 0.5, 0.4])).to.equal(0);
  });

  it('federates exactly: the weighted mean of two clients\' sums is the pooled sums over the total weight', () => {
    const users = ruleUsers(12, 'fed');
    const obs = users.map((ex, i): GateObservation => ({
      interestRule: [0, i % 3, 1, 2, 0, 1], interestTrained: [0, 1, i % 4, 0, 2, 1],
      interestTruth: new Set([1 + (i % 5)]), propensityRule: i / 3 - 2, propensityTrained: 2 - i / 4, purchased: ex.labels.purchased === 1,
    }));
    const a = new HeadGateSums();
    const b = new HeadGateSums();
    const pooled = new HeadGateSums();
    obs.forEach((o, i) => { (i < 5 ? a : b).add(o); pooled.add(o); });
    const [wa, wb] = [5, 7];
    const fa = a.finish(wa);
    const fb = b.finish(wb);
    const mean = fa.map((x, i) => (wa * x + wb * fb[i]!) / (wa + wb));
    const expected = pooled.finish(wa + wb);
    mean.forEach((v, i) => expect(v).to.be.closeTo(expected[i]!, 1e-6));
  });

  it('serves the rule when training spoiled a head, so the head scores exactly the rule on those users', () => {
    const model = ProfileModel.create(CFG, 3);
    try {
      spoilHeads(model);
      const validation = ruleUsers(60, 'val');
      const test = ruleUsers(60, 'test');
      const before = evaluateModel(model, test, { seed: 1 });
      const rules = evaluateNamedBaselines(validation, test, { k: 10, seed: 1, itemVocab: CFG.itemVocab, categoryVocab: CFG.categoryVocab, numTiers: CFG.numTiers });
      expect(before.interestP3).to.be.below(rules.mostRecentCategory.interestP3! - 0.3);
      expect(refreshHeadGate(model, validation, 60)).to.equal(true);
      const gate = model.headGate();
      expect(gate.interests).to.equal(0);
      expect(gate.propensity).to.be.below(1);
      const after = evaluateModel(model, test, { seed: 1 });
      expect(after.interestP3).to.be.closeTo(rules.mostRecentCategory.interestP3!, 1e-9);
      expect(after.auc).to.be.at.least(rules.purchaseRate.auc! - 1e-9);
      // The served interests are the rule's logits exactly.
      const batch = toBatch(test.slice(0, 4).map((e) => e.input), CFG);
      const [served, rule] = tf.tidy(() => [model.profileHeads(batch, false).logits.interests, model.ruleHeadLogits(batch.features).interests]);
      expect(Array.from(served!.dataSync())).to.deep.equal(Array.from(rule!.dataSync()));
      tf.dispose([served!, rule!]);
      disposeBatch(batch);
    } finally {
      model.dispose();
    }
  });

  it('keeps the trained heads of a model whose heads beat their rules', () => {
    const model = ProfileModel.create(CFG, 3);
    try {
      // A fresh model's heads are their rules: every α ties, and ties keep the trained heads.
      refreshHeadGate(model, ruleUsers(30, 'val'), 30);
      expect(model.headGate()).to.deep.equal({ interests: 1, propensity: 1 });
      expect(model.maybeWeight(HEAD_GATE_WEIGHT)!.size).to.equal(HEAD_GATE_SIZE);
      expect(HEAD_GATE_GRID[0]).to.equal(0);
    } finally {
      model.dispose();
    }
  });
});
