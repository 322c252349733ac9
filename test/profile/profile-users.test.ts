import { expect } from 'chai';
import { cleanEvents } from '../../shared/data/clean.js';
import { ACTIONS } from '../../shared/data/events.js';
import { createHasher } from '../../shared/data/hashing.js';
import { PROFILE_SMALL, type ModelConfig } from '../../shared/model/config.js';
import { UserProfileSchema, profileUsers, segmentOf } from '../../shared/model/profile.js';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { initBackend } from '../../shared/tf/index.js';
import { generateSynthetic } from '../../simulations/synthetic/index.js';
import { FedProfileError } from '../../shared/errors.js';

describe('profile/profileUsers', function () {
  this.timeout(60_000);
  const cfg: ModelConfig = { ...PROFILE_SMALL, dModel: 16, ffDim: 32, layers: 1 };
  const data = generateSynthetic({ seed: 2, users: 12 });
  const categories = data.catalogue.categories.map((c) => c.id);
  const hasher = createHasher({
    key: 'k', itemVocab: cfg.itemVocab, categoryVocab: cfg.categoryVocab, textVocab: cfg.textVocab, knownCategories: categories,
  });
  const users = [...cleanEvents(data.events).users].map(([userId, events]) => ({ userKey: hasher.userKey(userId), events }));
  let model: ProfileModel;
  before(async () => { await initBackend(); model = ProfileModel.create(cfg, 4); });
  after(() => model.dispose());

  it('returns one schema-valid profile per user with documented ranges', () => {
    const profiles = profileUsers(model, users, { hasher, topK: 7, batchSize: 5 });
    expect(profiles).to.have.length(users.length);
    profiles.forEach((p, u) => {
      UserProfileSchema.parse(p);
      expect(p.userKey).to.equal(users[u].userKey);
      expect(p.embedding).to.have.length(cfg.dModel);
      expect(p.nextItems).to.have.length(7);
      expect(p.interests).to.have.length(5);
      for (const i of p.interests) expect(categories).to.include(i.category); // names, not hashed ids
      const scores = p.nextItems.map((n) => n.score);
      expect(scores).to.deep.equal([...scores].sort((a, b) => b - a));
      expect(p.spendingTier.probabilities).to.have.length(cfg.numTiers);
      expect(p.spendingTier.probabilities.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-5);
      expect(p.segment).to.equal(segmentOf(p.propensity, p.spendingTier.tier, cfg.numTiers).segment);
      expect(p.activity.events).to.equal(users[u].events.length);
      expect(Object.keys(p.activity.actionCounts)).to.deep.equal([...ACTIONS]);
      // The explanation points at real events of this user, heaviest first, inside the model's window.
      expect(p.explanation.length).to.equal(Math.min(5, users[u].events.length));
      for (const x of p.explanation) {
        const e = users[u].events[x.index];
        expect(x).to.include({ action: e.action, item: e.itemId, category: e.categoryId, timestamp: e.timestamp });
        expect(x.index).to.be.at.least(users[u].events.length - cfg.maxLen);
      }
      const w = p.explanation.map((x) => x.weight);
      expect(w).to.deep.equal([...w].sort((a, b) => b - a));
    });
  });

  it('is deterministic and recency is measured from the latest event by default', () => {
    const a = profileUsers(model, users, { hasher });
    const b = profileUsers(model, users, { hasher });
    expect(JSON.stringify(a)).to.equal(JSON.stringify(b));
    expect(Math.min(...a.map((p) => p.activity.lastActiveDaysAgo))).to.equal(0);
  });

  it('uses given display names and segment cut points', () => {
    const first = users[0];
    const [p] = profileUsers(model, [first], { hasher, segments: { propensityCuts: [0, 0] } });
    expect(p.segmentLabel).to.match(/^high-propensity\/tier-\d$/);
    const id = hasher.category(categories[0]);
    const [q] = profileUsers(model, [first], { hasher, topInterests: cfg.categoryVocab, categoryNames: new Map([[id, 'Shoes']]) });
    expect(q.interests.map((i) => i.category)).to.include('Shoes');
  });

  it('rejects users without events with one clear error', () => {
    expect(() => profileUsers(model, [...users, { userKey: 'ghost', events: [] }], { hasher }))
      .to.throw(FedProfileError, /1 user\(s\) have no events.*ghost/);
  });
});
