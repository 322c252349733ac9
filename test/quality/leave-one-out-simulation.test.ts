import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../../simulations/config.js';
import { runSimulation } from '../../simulations/runner.js';

/**
 * A MovieLens-layout folder where each user walks a chain of movies (m, m+1, m+2, …) from their own start,
 * with a few popular "blockbusters" everyone has rated first: the next movie follows from the last one,
 * which transition statistics know and popularity does not. No prices, so tier cannot be measured.
 */
function writeChainMovieLens(dir: string): void {
  const movies = ['movieId,title,genres'];
  for (let m = 1; m <= 40; m++) movies.push(`${m},Movie ${m} (2000),${['Drama', 'Comedy', 'Action', 'Horror'][m % 4]}`);
  const ratings = ['userId,movieId,rating,timestamp'];
  for (let u = 1; u <= 48; u++) {
    let t = 1_000_000 + u * 10_000;
    for (const m of [1, 2, 3]) ratings.push(`${u},${m},5,${t++}`);
    const start = 4 + ((u * 7) % 25);
    for (let k = 0; k < 10; k++) ratings.push(`${u},${start + k},${3 + (k % 3)},${t++}`);
  }
  writeFileSync(join(dir, 'movies.csv'), `${movies.join('\n')}\n`);
  writeFileSync(join(dir, 'ratings.csv'), `${ratings.join('\n')}\n`);
}

describe('quality/leave-one-out simulation on MovieLens-layout data', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), 'fp-loo-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('scores strategies and rules on the same users, with statistics that federate and n/a where unmeasurable', async () => {
    writeChainMovieLens(dir);
    const out = join(dir, 'run');
    const cfg = parseSimulationConfig({
      seed: 3,
      data: { source: 'movielens', path: dir },
      examples: { protocol: 'leave-one-out', itemIds: 'catalogue', fitItemVocab: true, minEvents: 5, maxPrefixesPerUser: 2 },
      partition: { type: 'iid' },
      clients: 3,
      model: { itemVocab: 64, categoryVocab: 8, priceBuckets: 0, textVocab: 0, textTokens: 0, maxLen: 8, dModel: 16, heads: 2, layers: 1, ffDim: 32, transitionItems: 32, causal: true },
      strategies: [{ name: 'centralized' }, { name: 'fedavg' }, { name: 'local' }],
      training: { rounds: 3, batchSize: 16, learningRate: 0.005, selectByValidation: true },
      secureAggregation: { enabled: true },
      workers: 1,
    });
    const { summary } = await runSimulation(cfg, { outDir: out, plots: false });
    const s = summary.strategies;
    const b = summary.baselines!;
    expect(summary.evaluation).to.deep.equal({ protocol: 'leave-one-out', excludeHistory: true, negatives: 'popularity', testUsers: 48 });
    expect((summary.partition as { itemIds: unknown }).itemIds).to.deep.equal({ mode: 'catalogue', items: 37, ids: 37, collidedItems: 0, collisionRate: 0 });
    // No prices anywhere: tier is not measurable, for the rule and for every strategy.
    expect(b['majorityTier']!['tierAcc']).to.equal(null);
    for (const name of ['centralized', 'fedavg', 'local']) expect(s[name]!.tierAcc, name).to.be.NaN;
    // The chain is in the statistics: the rules and the fused scorer see it, popularity cannot.
    expect(b['markov']!['ndcg10']!).to.be.greaterThan(0.5);
    expect(b['markov']!['ndcg10']!).to.be.greaterThan(b['popularity']!['ndcg10']! + 0.3);
    expect(s['centralized']!.ndcg10Statistics!).to.be.greaterThan(0.5);
    expect(s['centralized']!.ndcg10).to.be.greaterThan(b['popularity']!['ndcg10']! + 0.3);
    // From the second round on FedAvg holds the pooled statistics, so it scores what centralised does.
    expect(s['fedavg']!.ndcg10Statistics).to.be.closeTo(s['centralized']!.ndcg10Statistics!, 1e-9);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).to.match(/\| \*first-order Markov \(next item\)\* \| 0\.\d{4} \|/);
    expect(report).to.contain('| *majority tier (tier)* | n/a | n/a | n/a | n/a | n/a |');
    expect(report).to.contain('What each part of the next-item scorer adds');
    const json = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(json.strategies.centralized.tierAcc).to.equal(null);
  });
});
