import { expect } from 'chai';
import type { EncodedSequence } from '../../shared/data/encoded.js';
import type { ModelConfig } from '../../shared/model/config.js';
import { disposeBatch, toBatch } from '../../shared/model/batch.js';
import { ProfileModel } from '../../shared/model/profile-model.js';
import {
  CATEGORY_BLOCKS, RECENCY_HALF_LIFE, globalFeatureNames, priceBucketCentre, userFeatureLayout, userFeatures, wideInit,
} from '../../shared/model/user-features.js';
import { initBackend } from '../../shared/tf/backend.js';
import { evaluateBaselines } from '../../shared/training/baselines.js';
import { evaluateModel } from '../../shared/training/evaluate.js';
import { trainLocal } from '../../shared/training/trainer.js';
import { cycleExamples } from '../training/fixtures.js';
import { parameterCount } from '../../coordinator/model-limits.js';
import { TINY } from './fixtures.js';

const CFG: ModelConfig = { ...TINY, maxLen: 6, categoryVocab: 5, priceBuckets: 4, gapBuckets: 5, numTiers: 4 };
// ACTIONS = view, click, cart, purchase, review, search -> ids 1..6
const VIEW = 1; const CART = 3; const PURCHASE = 4;

function seq(events: { c: number; a: number; p?: number; g?: number }[], L = CFG.maxLen): EncodedSequence {
  const z = () => new Int32Array(L);
  const s: EncodedSequence = { item: z(), category: z(), action: z(), price: z(), gap: z(), text: new Int32Array(0), length: events.length };
  events.forEach((e, i) => {
    const l = L - events.length + i;
    s.item[l] = 2 + i;
    s.category[l] = e.c;
    s.action[l] = e.a;
    s.price[l] = e.p ?? 0;
    s.gap[l] = e.g ?? 0;
  });
  return s;
}

describe('model/user-features', () => {
  before(async () => { await initBackend('wasm'); });

  it('computes hand-checked features of a crafted sequence', () => {
    // oldest -> newest: cat 1 view, cat 2 purchase (price 3), cat 1 cart (price 1), cat 3 view (price 2)
    const s = seq([{ c: 1, a: VIEW, g: 1 }, { c: 2, a: PURCHASE, p: 3, g: 2 }, { c: 1, a: CART, p: 1, g: 4 }, { c: 3, a: VIEW, p: 2, g: 3 }]);
    const f = userFeatures([s], CFG);
    const lay = userFeatureLayout(CFG);
    expect(lay.size).to.equal(f.length);
    const C = 5;
    const block = (name: (typeof CATEGORY_BLOCKS)[number]) => Array.from(f.subarray(CATEGORY_BLOCKS.indexOf(name) * C, (CATEGORY_BLOCKS.indexOf(name) + 1) * C));
    expect(block('recencyRank')).to.deep.equal([0, 0.5, 0.25, 1, 0]);
    expect(block('inverseRank').map((x) => +x.toFixed(6))).to.deep.equal([0, 0.5, +(1 / 3).toFixed(6), 1, 0]);
    expect(block('share')).to.deep.equal([0, 0.5, 0.25, 0.25, 0]);
    expect(block('basketShare')).to.deep.equal([0, 0.5, 0.5, 0, 0]);
    expect(block('visitShare')).to.deep.equal([0, 0.5, 0.25, 0.25, 0]);
    // a burst of three events in one category is one visit
    const burst = userFeatures([seq([{ c: 2, a: VIEW }, { c: 2, a: VIEW }, { c: 2, a: CART }, { c: 1, a: VIEW }])], CFG);
    const v = CATEGORY_BLOCKS.indexOf('visitShare') * C;
    expect(Array.from(burst.subarray(v, v + C))).to.deep.equal([0, 0.5, 0.5, 0, 0]);
    const w = [0, 1, 2, 3].map((age) => 0.5 ** (age / RECENCY_HALF_LIFE)); // newest first
    const wSum = w.reduce((a, b) => a + b, 0);
    const recent = block('recencyShare');
    expect(recent[3]).to.be.closeTo(w[0]! / wSum, 1e-6);
    expect(recent[1]).to.be.closeTo((w[1]! + w[3]!) / wSum, 1e-6);
    expect(recent[2]).to.be.closeTo(w[2]! / wSum, 1e-6);
    const names = globalFeatureNames(CFG);
    const g = (name: string) => f[lay.globalOffset + names.indexOf(name)]!;
    expect(g('share/purchase')).to.equal(0.25);
    expect(g('share/view')).to.equal(0.5);
    expect(g('recentShare/purchase')).to.be.closeTo(w[2]! / wSum, 1e-6);
    expect(g('anyPurchase')).to.equal(1);
    expect(g('eventsSinceLastPurchase')).to.be.closeTo(2 / 6, 1e-6);
    expect(g('logLength')).to.be.closeTo(Math.log(5) / Math.log(7), 1e-6);
    expect(g('categoryDiversity')).to.equal(0.75);
    expect(g('lastGap')).to.equal(0.75); // bucket 3 of 4 real buckets
    expect(g('meanGap')).to.be.closeTo((1 + 2 + 4 + 3) / 4 / 4, 1e-6);
    expect(g('pricedShare')).to.equal(0.75);
    expect(g('meanPrice')).to.be.closeTo((3 + 1 + 2) / 3 / 3, 1e-6);
    expect(g('meanBasketPrice')).to.be.closeTo((3 + 1) / 2 / 3, 1e-6);
    expect([1, 2, 3].map((b) => g(`priceHist/${b}`)).map((x) => +x.toFixed(6))).to.deep.equal([0.333333, 0.333333, 0.333333]);
    expect([1, 2, 3].map((b) => g(`basketPriceHist/${b}`))).to.deep.equal([0.5, 0, 0.5]);
  });

  it('an empty sequence gives all zeros; ids outside the vocabularies are ignored', () => {
    expect(Array.from(userFeatures([seq([])], CFG)).every((x) => x === 0)).to.equal(true);
    const f = userFeatures([seq([{ c: 9, a: 9, p: 9, g: 9 }])], CFG);
    const lay = userFeatureLayout(CFG);
    expect(Array.from(f.subarray(0, lay.globalOffset)).every((x) => x === 0)).to.equal(true);
    expect(f[lay.globalOffset + globalFeatureNames(CFG).indexOf('logLength')]).to.be.greaterThan(0);
    expect(f[lay.globalOffset + globalFeatureNames(CFG).indexOf('pricedShare')]).to.equal(0);
  });

  it('toBatch carries the features; without prices there are no price features', () => {
    const b = toBatch([seq([{ c: 1, a: VIEW }]), seq([{ c: 2, a: PURCHASE }])], CFG);
    expect(b.features.shape).to.deep.equal([2, userFeatureLayout(CFG).size]);
    disposeBatch(b);
    const noPrice = { ...CFG, priceBuckets: 0 };
    expect(globalFeatureNames(noPrice).some((n) => n.includes('rice/') || n.includes('Hist'))).to.equal(false);
    expect(Array.from(wideInit(noPrice).tier).every((x) => x === 0)).to.equal(true);
  });

  it('the tier wide weights map each price bucket to the tier of its centre price', () => {
    const cfg = { ...CFG, priceBuckets: 16 };
    const names = globalFeatureNames(cfg);
    const { tier } = wideInit(cfg);
    const tierOf = (b: number) => { const row = Array.from(tier.subarray(names.indexOf(`basketPriceHist/${b}`) * 4, names.indexOf(`basketPriceHist/${b}`) * 4 + 4)); return row.findIndex((x) => x > 0); };
    expect(priceBucketCentre(1, 16)).to.be.lessThan(3);
    expect(tierOf(1)).to.equal(0);
    // 10 / 30 / 90 / 270 ladder: bucket 7 is centred near 10000^(6.5/15) ~ 54 -> tier 2; the top bucket -> tier 3
    expect(tierOf(7)).to.equal(2);
    expect(tierOf(15)).to.equal(3);
  });

  it('coordinator parameterCount counts the wide and auxiliary heads', () => {
    const m = ProfileModel.create(CFG, 1);
    expect(parameterCount(CFG)).to.equal(m.paramCount('all'));
    m.dispose();
  });

  it('the heads start exactly at the rules, and pre-training (which trains the encoder) leaves them there', () => {
    const cfg: ModelConfig = { ...TINY, categoryVocab: 6, priceBuckets: 4, numTiers: 3 };
    const examples = cycleExamples(60, cfg, 'rules', 24);
    const opts = { k: 10, seed: 3, itemVocab: cfg.itemVocab, categoryVocab: cfg.categoryVocab, numTiers: cfg.numTiers };
    const rule = evaluateBaselines(examples, examples, opts);
    const m = ProfileModel.create(cfg, 11);
    try {
      const fresh = evaluateModel(m, examples, { seed: 3 });
      expect(fresh.interestP3).to.equal(rule.interestP3);
      expect(fresh.auc).to.equal(rule.auc);
      trainLocal(m, { train: examples }, { round: 0, phase: 'pretrain', localEpochs: 2, batchSize: 16, learningRate: 0.01, optimizer: 'adam', seed: 1 });
      const pretrained = evaluateModel(m, examples, { seed: 3 });
      expect(pretrained.ndcg10).to.not.equal(fresh.ndcg10); // the encoder did change
      expect(pretrained.interestP3).to.equal(rule.interestP3);
      expect(pretrained.auc).to.equal(rule.auc);
    } finally {
      m.dispose();
    }
  });
});
