import { expect } from 'chai';
import type { BehaviourEvent } from '../../shared/data/events.js';
import type { EncodedSequence } from '../../shared/data/encoded.js';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { initBackend } from '../../shared/tf/backend.js';
import {
  completeness, evaluateProfiles, heldOutProfileAges, profileChange, removeEvents, staleness, type ProfileHeads,
} from '../../shared/training/profile-eval.js';
import { trainLocal } from '../../shared/training/trainer.js';
import { cycleExamples, TINY } from './fixtures.js';

// 4 categories (0 = PAD), 3 tiers, items 0..5 (0 PAD, 1 MASK)
const heads = (interests: number[], propensity: number, tier: number[], next: number[]): ProfileHeads => ({ interests, propensity, tier, next });
const COLD = heads([0, 0.5, 0.4, 0.3], 0.2, [0.2, 0.5, 0.3], [0, 0, 0.5, 0.3, 0.1, 0.1]);

describe('training/profile-eval', () => {
  it('completeness counts, per user and field, values that differ from the cold-start profile', () => {
    const opts = { topInterests: 2, topItems: 2, propensityTolerance: 0.05 };
    const users = [
      heads([0.9, 0.5, 0.4, 0.3], 0.21, [0.2, 0.5, 0.3], [0, 0, 0.5, 0.3, 0.1, 0.1]), // all default (index 0 is PAD, never ranked)
      heads([0, 0.1, 0.4, 0.9], 0.3, [0.6, 0.3, 0.1], [0, 0, 0.1, 0.1, 0.5, 0.3]), // all four non-default
      heads([0, 0.4, 0.5, 0.3], 0.15, [0.2, 0.5, 0.3], [0, 0.9, 0.3, 0.5, 0.1, 0.1]), // interests same set {1,2}; propensity -0.05 counts; next {3,2} same set
    ];
    const c = completeness(users, COLD, opts);
    expect(c.users).to.equal(3);
    expect(c.fields).to.deep.equal({ interests: 1 / 3, propensity: 2 / 3, spendingTier: 1 / 3, nextItems: 1 / 3 });
    expect(c.usersWithAnyField).to.equal(2 / 3);
    expect(c.usersComplete).to.equal(1 / 3);
    expect(c.fieldShare).to.equal(5 / 12);
    expect(completeness([], COLD).usersComplete).to.be.NaN;
  });

  it('staleness: seconds and events between a profile and the user\'s newest event', () => {
    const s = staleness([
      { profiledThrough: 0, lastEvent: 0, eventsSince: 0 },
      { profiledThrough: 1000, lastEvent: 11_000, eventsSince: 2 },
      { profiledThrough: 5000, lastEvent: 35_000, eventsSince: 4 },
    ]);
    expect(s).to.deep.equal({ users: 3, medianSeconds: 10, p95Seconds: 28, meanSeconds: 40 / 3, upToDate: 1 / 3, meanEventsBehind: 2 });
    const ev = (t: number): BehaviourEvent => ({ userId: 'u', itemId: `i${t}`, categoryId: 'c', action: 'view', timestamp: t * 1000 });
    // 10 events, testFraction 0.2 -> the last 2 are held out; validation 0.1 -> the one before
    const ages = heldOutProfileAges([Array.from({ length: 10 }, (_, i) => ev(i)), [ev(1)]], { testFraction: 0.2, validationFraction: 0.1 });
    expect(ages).to.deep.equal([{ profiledThrough: 7000, lastEvent: 9000, eventsSince: 2 }]);
  });

  it('removeEvents deletes positions and left-pads the rest, text included', () => {
    const s: EncodedSequence = {
      item: Int32Array.from([0, 2, 3, 4, 5]), category: Int32Array.from([0, 1, 2, 3, 1]), action: Int32Array.from([0, 1, 1, 4, 2]),
      price: Int32Array.from([0, 1, 2, 3, 1]), gap: Int32Array.from([0, 1, 1, 2, 2]), text: Int32Array.from([0, 0, 7, 7, 8, 8, 9, 9, 6, 6]), length: 4,
    };
    const r = removeEvents(s, new Set([2, 4]));
    expect(Array.from(r.item)).to.deep.equal([0, 0, 0, 2, 4]);
    expect(Array.from(r.category)).to.deep.equal([0, 0, 0, 1, 3]);
    expect(Array.from(r.action)).to.deep.equal([0, 0, 0, 1, 4]);
    expect(Array.from(r.text)).to.deep.equal([0, 0, 0, 0, 0, 0, 7, 7, 9, 9]);
    expect(r.length).to.equal(2);
  });

  it('profileChange: mean |Δ| over real categories, |Δ propensity|, tier total variation', () => {
    const a = heads([0.9, 0.5, 0.4, 0.3], 0.2, [0.2, 0.5, 0.3], []);
    const b = heads([0, 0.2, 0.4, 0.6], 0.5, [0.5, 0.5, 0], []);
    const c = profileChange(a, b);
    expect(c.interests).to.be.closeTo(0.2, 1e-6);
    expect(c.propensity).to.be.closeTo(0.3, 1e-6);
    expect(c.tier).to.be.closeTo(0.3, 1e-6);
    expect(c.combined).to.be.closeTo(0.8 / 3, 1e-6);
  });

  it('on a trained small model, removing the explanation\'s top events moves the profile more than random ones', async function () {
    this.timeout(60_000);
    await initBackend('wasm');
    const cfg = { ...TINY, maxLen: 12 };
    const train = cycleExamples(160, cfg, 'faith-train', 24);
    const test = cycleExamples(60, cfg, 'faith-test', 24);
    const m = ProfileModel.create(cfg, 5);
    try {
      const common = { round: 0, batchSize: 32, learningRate: 0.01, optimizer: 'adam' as const, seed: 2 };
      trainLocal(m, { train }, { ...common, phase: 'pretrain', localEpochs: 3 });
      trainLocal(m, { train }, { ...common, phase: 'finetune', localEpochs: 3 });
      const r = evaluateProfiles(m, test.map((e) => e.input), { k: 2, seed: 1 });
      if (process.env.FEDPROFILE_TEST_VERBOSE) console.log(JSON.stringify(r));
      const [occlusion, attention] = r.faithfulness;
      expect(occlusion!.method).to.equal('occlusion');
      expect(attention!.method).to.equal('attention');
      for (const fa of r.faithfulness) {
        expect(fa.users).to.equal(test.filter((e) => e.input.length >= 4).length);
        expect(fa.gap, JSON.stringify(fa)).to.be.greaterThan(0);
        expect(fa.topBeatsRandom).to.be.greaterThan(0.5);
      }
      // The profile's own explanation (occlusion) is the more faithful one.
      expect(occlusion!.gap).to.be.greaterThan(attention!.gap);
      expect(r.completeness.users).to.equal(60);
      expect(r.completeness.usersWithAnyField).to.be.greaterThan(0.5);
      expect(r.timeliness.staleness).to.equal(null);
      expect(r.timeliness.refresh.singleUserMsP50).to.be.greaterThan(0);
      expect(r.timeliness.refresh.batchedMsPerUser).to.be.greaterThan(0);
    } finally {
      m.dispose();
    }
  });
});
