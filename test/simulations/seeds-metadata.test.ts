import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../../simulations/config.js';
import { runSeeds } from '../../simulations/multi-seed.js';
import { collectRunMetadata, commandLine } from '../../simulations/report/run-metadata.js';
import { meanCI, summariseSeeds, tQuantile975 } from '../../simulations/report/seeds.js';
import type { StrategySummary, Summary } from '../../simulations/report/types.js';
import { tinyExperiment } from './fixtures.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const strategy = (ndcg10: number, auc: number): StrategySummary => ({
  ndcg10, hr10: 0.5, auc, interestP3: Number.NaN, tierAcc: 0.4, rounds: 2, seconds: 1, bytesUp: 10, bytesDown: 10,
});

describe('simulation reports: run metadata and multi-seed confidence intervals', () => {
  it('mean ± 95 % CI uses the Student t quantile of n − 1 degrees of freedom', () => {
    const s = meanCI([1, 2, 3, 4, 5]);
    expect(s.mean).to.equal(3);
    // sd = sqrt(2.5), se = sd / sqrt(5), t(0.975, 4) = 2.776
    expect(s.ci95).to.be.closeTo(2.776 * Math.sqrt(2.5 / 5), 1e-12);
    expect(meanCI([0.3, 0.3, 0.3]).ci95).to.equal(0);
    expect(meanCI([0.25])).to.deep.equal({ mean: 0.25, ci95: null, n: 1, values: [0.25] });
    expect(tQuantile975(1)).to.equal(12.706);
    expect(tQuantile975(1000)).to.equal(1.96);
    // A metric the data cannot measure is left out, never averaged in as a number.
    expect(meanCI([Number.NaN, null, 0.5, 0.7])).to.deep.include({ n: 2, values: [null, null, 0.5, 0.7] });
    expect(meanCI([Number.NaN, null])).to.deep.include({ mean: null, ci95: null, n: 0 });
  });

  it('summarises every numeric field of every strategy over the seeds', () => {
    const sums: Summary[] = [0.2, 0.3, 0.4].map((v, i) => ({ strategies: { fedavg: strategy(v, 0.6 + i / 100) }, config: {}, backend: 'wasm' }));
    const s = summariseSeeds([7, 8, 9], sums, ['seed-7', 'seed-8', 'seed-9']);
    expect(s.seeds).to.deep.equal([7, 8, 9]);
    expect(s.strategies.fedavg!.ndcg10!.mean).to.be.closeTo(0.3, 1e-12);
    expect(s.strategies.fedavg!.ndcg10!.ci95).to.be.closeTo(4.303 * 0.1 / Math.sqrt(3), 1e-12);
    expect(s.strategies.fedavg!.auc!.values).to.deep.equal([0.6, 0.61, 0.62]);
    expect(s.strategies.fedavg!.interestP3).to.deep.include({ mean: null, n: 0 });
    expect(Object.keys(s.strategies.fedavg!)).to.include.members(['hr10', 'tierAcc', 'rounds', 'seconds', 'bytesUp', 'bytesDown']);
  });

  it('run metadata names the version, the commit, Node.js, the date and the command', () => {
    const m = collectRunMetadata({ command: 'fedprofile simulate -c x.json -o out', now: new Date('2026-01-02T03:04:05Z') });
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(m).to.deep.include({ fedprofileVersion: version, node: process.version, date: '2026-01-02T03:04:05.000Z', command: 'fedprofile simulate -c x.json -o out' });
    expect(m.commit).to.equal(execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim());
    expect(m.dirty).to.be.a('boolean');
    expect(commandLine(['/usr/bin/node', '/app/bin/fedprofile.js', 'simulate', '--out', 'my runs/a'])).to.equal("fedprofile simulate --out 'my runs/a'");
  });

  it('--seeds 2 runs two seeds and writes mean ± CI with the run metadata in summary.json and report.md', async function () {
    this.timeout(120_000);
    const out = mkdtempSync(join(tmpdir(), 'fp-seeds-'));
    try {
      const cfg = parseSimulationConfig({ ...tinyExperiment, strategies: [{ name: 'fedavg' }] });
      const r = await runSeeds(cfg, 2, { outDir: out, plots: false, run: collectRunMetadata({ command: 'fedprofile simulate --seeds 2' }) });
      expect(r.interrupted).to.equal(false);
      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
      expect(summary.seeds).to.deep.equal([tinyExperiment.seed, tinyExperiment.seed! + 1]);
      const perSeed = summary.runs.map((d: string) => JSON.parse(readFileSync(join(out, d, 'summary.json'), 'utf8')));
      const ndcg = perSeed.map((s: Summary) => s.strategies.fedavg!.ndcg10);
      expect(ndcg[0]).to.not.equal(ndcg[1]);
      expect(summary.strategies.fedavg.ndcg10.values).to.deep.equal(ndcg);
      expect(summary.strategies.fedavg.ndcg10.mean).to.be.closeTo((ndcg[0] + ndcg[1]) / 2, 1e-12);
      expect(summary.strategies.fedavg.ndcg10.ci95).to.be.closeTo(12.706 * Math.abs(ndcg[0] - ndcg[1]) / 2, 1e-9);
      expect(summary.run.command).to.equal('fedprofile simulate --seeds 2');
      for (const s of perSeed) expect(s.run).to.deep.equal(summary.run);
      const md = readFileSync(join(out, 'report.md'), 'utf8');
      const m = summary.strategies.fedavg.ndcg10;
      expect(md).to.include(`| fedavg | ${m.mean.toFixed(4)} ± ${m.ci95.toFixed(4)} |`);
      expect(md).to.include(`- fedprofile ${summary.run.fedprofileVersion}, commit \`${summary.run.commit}\``);
      expect(md).to.include(`- Node.js ${process.version}`);
      expect(md).to.include('- command: `fedprofile simulate --seeds 2`');
      expect(readFileSync(join(out, 'seed-5', 'report.md'), 'utf8')).to.include('## Run');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
