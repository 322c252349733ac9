import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../shared/errors.js';
import { BehaviourEventSchema, type BehaviourEvent } from '../../shared/data/events.js';
import { readAllEvents } from '../../shared/data/readers/index.js';
import { cleanEvents } from '../../shared/data/clean.js';
import { createHasher } from '../../shared/data/hashing.js';
import { spendingTier } from '../../shared/data/labels.js';
import { dirichlet, gamma, fastUniform as makeRng } from '../../shared/random.js';
import { generateSynthetic, writeSynthetic } from '../../simulations/synthetic/generate.js';
import { precisionAtK, readTruth, truthInterestIds } from '../../simulations/synthetic/truth.js';

/** Mean pairwise total-variation distance between merchants' category distributions of events. */
function merchantDivergence(events: readonly BehaviourEvent[], merchantOf: (userId: string) => string): number {
  const dists = new Map<string, Map<string, number>>();
  for (const e of events) {
    const m = merchantOf(e.userId);
    let d = dists.get(m);
    if (!d) dists.set(m, (d = new Map()));
    d.set(e.categoryId, (d.get(e.categoryId) ?? 0) + 1);
  }
  const norm = [...dists.values()].map((d) => {
    const total = [...d.values()].reduce((s, x) => s + x, 0);
    return new Map([...d].map(([k, v]) => [k, v / total]));
  });
  const cats = new Set(events.map((e) => e.categoryId));
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < norm.length; i++) {
    for (let j = i + 1; j < norm.length; j++) {
      let tv = 0;
      for (const c of cats) tv += Math.abs((norm[i].get(c) ?? 0) - (norm[j].get(c) ?? 0));
      sum += tv / 2;
      pairs++;
    }
  }
  return sum / pairs;
}

describe('synthetic generator', () => {
  const small = { users: 300, merchants: 4 };
  const data = generateSynthetic({ seed: 11, ...small });

  it('Marsaglia–Tsang gamma and Dirichlet have the right moments', () => {
    const rng = makeRng(3);
    for (const shape of [0.3, 1, 4.5]) {
      let s = 0;
      const n = 20_000;
      for (let i = 0; i < n; i++) s += gamma(rng, shape);
      expect(s / n).to.be.closeTo(shape, 0.05 * shape + 0.02);
    }
    const mean = [0, 0, 0];
    for (let i = 0; i < 5000; i++) dirichlet(rng, [1, 2, 7]).forEach((x, k) => (mean[k] += x / 5000));
    expect(mean[0]).to.be.closeTo(0.1, 0.01);
    expect(mean[2]).to.be.closeTo(0.7, 0.01);
  });

  it('is deterministic: the same seed gives identical output, another seed differs', () => {
    const again = generateSynthetic({ seed: 11, ...small });
    expect(JSON.stringify(again.events)).to.equal(JSON.stringify(data.events));
    expect(JSON.stringify(again.truth)).to.equal(JSON.stringify(data.truth));
    const other = generateSynthetic({ seed: 12, ...small });
    expect(other.events.length).to.not.equal(data.events.length);
    expect(other.truth.map((t) => t.priceTier)).to.not.deep.equal(data.truth.map((t) => t.priceTier));
  });

  it('produces schema-valid events in time order, each user owned by one merchant', () => {
    const merchantOf = new Map(data.truth.map((t) => [t.userId, t.merchantId]));
    let prev = -Infinity;
    const problems: string[] = [];
    for (const e of data.events) {
      if (!BehaviourEventSchema.safeParse(e).success) problems.push(`invalid ${JSON.stringify(e)}`);
      if (e.timestamp < prev) problems.push(`out of order ${JSON.stringify(e)}`);
      prev = e.timestamp;
      if (e.merchantId !== merchantOf.get(e.userId)) problems.push(`wrong merchant ${JSON.stringify(e)}`);
    }
    expect(problems.slice(0, 3)).to.deep.equal([]);
    expect(new Set(data.truth.map((t) => t.merchantId))).to.deep.equal(new Set(['m1', 'm2', 'm3', 'm4']));
    expect(data.truth.reduce((s, t) => s + t.events, 0)).to.equal(data.events.length);
  });

  it('follows a sane view → click → cart → purchase funnel with searches and reviews', () => {
    const n: Record<string, number> = {};
    for (const e of data.events) n[e.action] = (n[e.action] ?? 0) + 1;
    expect(n.view).to.be.above(n.click);
    expect(n.click).to.be.above(n.cart);
    expect(n.cart).to.be.above(n.purchase);
    expect(n.purchase).to.be.above(n.review);
    expect(n.click / n.view).to.be.within(0.15, 0.5);
    expect(n.purchase / n.view).to.be.within(0.01, 0.15);
    expect(n.search).to.be.above(0);
    expect(data.events.filter((e) => e.action === 'search').every((e) => e.text && e.text.length > 0)).to.equal(true);
  });

  it('is non-IID across merchants, measurably (vs the same users dealt at random, and vs a flat merchant mix)', () => {
    const owner = new Map(data.truth.map((t) => [t.userId, t.merchantId]));
    const skewed = merchantDivergence(data.events, (u) => owner.get(u)!);
    const rng = makeRng(99);
    const shuffled = new Map(data.truth.map((t) => [t.userId, `m${1 + Math.floor(rng() * 4)}`]));
    const iidSplit = merchantDivergence(data.events, (u) => shuffled.get(u)!);
    const flat = generateSynthetic({ seed: 11, ...small, merchantAlpha: 1000 });
    const flatOwner = new Map(flat.truth.map((t) => [t.userId, t.merchantId]));
    const flatDiv = merchantDivergence(flat.events, (u) => flatOwner.get(u)!);
    console.log(`      merchant TV distance: skewed ${skewed.toFixed(3)}, random split ${iidSplit.toFixed(3)}, flat mix ${flatDiv.toFixed(3)}`);
    expect(skewed).to.be.above(0.35);
    expect(skewed).to.be.above(3 * iidSplit);
    expect(skewed).to.be.above(2 * flatDiv);
  });

  it('keeps ground truth that events reflect: tier and top interests recoverable well above chance', () => {
    const { users } = cleanEvents(data.events);
    const hasher = createHasher({ key: 'k', itemVocab: 2048, categoryVocab: 33, textVocab: 64, knownCategories: data.catalogue.categories.map((c) => c.id) });
    let tierHits = 0;
    let p3 = 0;
    for (const t of data.truth) {
      const ev = users.get(t.userId)!;
      if (spendingTier(ev, 4).tier === t.priceTier) tierHits++;
      const counts = new Map<number, number>();
      for (const e of ev) counts.set(hasher.category(e.categoryId), (counts.get(hasher.category(e.categoryId)) ?? 0) + 1);
      const predicted = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([id]) => id);
      p3 += precisionAtK(predicted, truthInterestIds(t, hasher, 3), 3);
    }
    console.log(`      from raw events: tier accuracy ${(tierHits / data.truth.length).toFixed(3)}, interest P@3 ${(p3 / data.truth.length).toFixed(3)}`);
    expect(tierHits / data.truth.length).to.be.above(0.7); // chance = 0.25
    expect(p3 / data.truth.length).to.be.above(0.6);
  });

  it('generates 100k events well under 10 s', function () {
    const t0 = performance.now();
    const big = generateSynthetic({ seed: 5, users: 1100 });
    const ms = performance.now() - t0;
    expect(big.events.length).to.be.above(100_000);
    expect(ms).to.be.below(10_000);
    console.log(`      ${big.events.length} events in ${ms.toFixed(0)} ms`);
  });

  it('writes events.jsonl and truth.json that read back exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedprofile-synth-'));
    try {
      const w = await writeSynthetic(dir, { seed: 11, ...small });
      const { events, report } = await readAllEvents({ path: w.eventsPath });
      expect(report.dropped).to.equal(0);
      expect(JSON.stringify(events)).to.equal(JSON.stringify(data.events));
      const truth = readTruth(w.truthPath);
      expect(truth.users).to.deep.equal(data.truth);
      expect(truth.merchants).to.have.length(4);
      expect(JSON.parse(readFileSync(w.cataloguePath, 'utf8')).items).to.have.length(16 * 120);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad options with a ConfigError', () => {
    expect(() => generateSynthetic({ users: 0 })).to.throw(ConfigError, /users/);
    expect(() => generateSynthetic({ searchRate: 2 })).to.throw(ConfigError, /searchRate/);
  });
});
