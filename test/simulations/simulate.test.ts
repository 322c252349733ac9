import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../../simulations/config.js';
import { runSimulation } from '../../simulations/runner.js';
import { FedProfileError } from '../../shared/errors.js';
import { metricLines, tinyExperiment } from './fixtures.js';

const tiny = tinyExperiment;

describe('fedprofile simulate (end to end)', function () {
  this.timeout(120_000);
  let first = '';

  it('runs every strategy and writes metrics.jsonl, summary.json, plots and report.md with sane metrics', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fp-sim-'));
    first = out;
    const r = await runSimulation(parseSimulationConfig(tiny), { outDir: out });
    expect(r.interrupted).to.equal(false);
    const lines = metricLines(out);
    expect(lines.map((l) => `${l.strategy}/${l.round}`)).to.deep.equal(['centralized/1', 'centralized/2', 'local/2', 'fedavg/1', 'fedavg/2']);
    for (const l of lines) {
      for (const k of ['ndcg10', 'hr10', 'auc', 'interestP3', 'tierAcc']) {
        expect(l[k], `${l.strategy} ${k}`).to.be.a('number').within(0, 1);
      }
      expect(l.loss).to.be.a('number').above(0);
      expect(l.seconds).to.be.a('number').above(0);
    }
    const fed = lines.filter((l) => l.strategy === 'fedavg');
    expect(fed.map((l) => l.phase)).to.deep.equal(['pretrain', 'finetune']);
    expect(fed[0]!.clientsSelected).to.equal(3);
    expect(fed[0]!.clientsCompleted).to.equal(3);
    expect(fed[0]!.clientsDropped).to.equal(0);
    // Each invited client downloads the model and uploads one delta of the same size (plain aggregation).
    expect(fed[0]!.bytesUp as number).to.be.above(3 * 4 * 1000);
    expect(fed[0]!.bytesDown as number).to.be.closeTo(fed[0]!.bytesUp as number, 0.02 * (fed[0]!.bytesUp as number));
    expect(fed[1]!.totalBytesUp).to.equal((fed[0]!.bytesUp as number) + (fed[1]!.bytesUp as number));
    expect(lines.find((l) => l.strategy === 'centralized')!.bytesUp).to.equal(0);

    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(Object.keys(summary.strategies)).to.deep.equal(['centralized', 'local', 'fedavg']);
    expect(summary.strategies.fedavg.rounds).to.equal(2);
    expect(summary.strategies.fedavg.ndcg10).to.equal(fed[1]!.ndcg10);
    expect(summary.backend).to.be.a('string').and.not.equal('');
    expect(summary.config.seed).to.equal(5);
    expect(summary.partition.clientsUsed).to.equal(3);
    expect(summary.strategies.fedavg.participation).to.deep.equal({ 'merchant-m1': 2, 'merchant-m2': 2, 'merchant-m3': 2 });
    for (const p of ['report.md', 'plots/metrics-by-round.svg', 'plots/metrics-by-round.png', 'plots/ndcg-by-bytes.png', 'plots/participation.png']) {
      expect(existsSync(join(out, p)), p).to.equal(true);
    }
    expect(statSync(join(out, 'plots/metrics-by-round.png')).size).to.be.above(10_000);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).to.include('| fedavg |');
    // Profile quality of every strategy with one global model (local has none).
    expect(Object.keys(summary.profile)).to.deep.equal(['centralized', 'fedavg']);
    const p = summary.profile.fedavg;
    expect(p.completeness.users).to.equal(summary.partition.examples.test);
    expect(p.completeness.fieldShare).to.be.within(0, 1);
    expect(p.timeliness.staleness.users).to.be.greaterThan(0);
    expect(p.timeliness.staleness.meanEventsBehind).to.be.greaterThan(0);
    expect(p.timeliness.refresh.singleUserMsP50).to.be.greaterThan(0);
    expect(p.faithfulness.map((x: { method: string }) => x.method)).to.deep.equal(['occlusion', 'attention']);
    expect(p.faithfulness[0].gap).to.equal(p.faithfulness[0].topRemoved.combined - p.faithfulness[0].randomRemoved.combined);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).to.include('## Profile quality');
  });

  it('gives bit-identical metrics for the same config and seed, and different ones for another seed', async () => {
    expect(first, 'needs the first run').to.not.equal('');
    const strip = (ls: Record<string, unknown>[]) => ls.map(({ seconds: _s, totalSeconds: _t, timing: _x, aggregation: _a, ...rest }) => rest);
    const again = mkdtempSync(join(tmpdir(), 'fp-det-'));
    await runSimulation(parseSimulationConfig(tiny), { outDir: again, plots: false });
    expect(strip(metricLines(again))).to.deep.equal(strip(metricLines(first)));
    const other = mkdtempSync(join(tmpdir(), 'fp-det-seed-'));
    await runSimulation(parseSimulationConfig({ ...tiny, seed: 6, strategies: [{ name: 'fedavg' }] }), { outDir: other, plots: false });
    const fedFirst = strip(metricLines(first)).filter((l) => l.strategy === 'fedavg');
    expect(strip(metricLines(other))).to.have.length(2).and.not.deep.equal(fedFirst);
  });

  it('stops on abort and still writes the finished rounds, summary and report', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fp-int-'));
    const controller = new AbortController();
    const cfg = parseSimulationConfig({ ...tiny, strategies: [{ name: 'fedavg' }], training: { rounds: 50, batchSize: 16, learningRate: 0.01 } });
    const watch = setInterval(() => {
      if (existsSync(join(out, 'metrics.jsonl')) && readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').length > 2) controller.abort();
    }, 50);
    try {
      const r = await runSimulation(cfg, { outDir: out, signal: controller.signal, plots: false });
      expect(r.interrupted).to.equal(true);
    } finally {
      clearInterval(watch);
    }
    const lines = metricLines(out);
    expect(lines.length).to.be.within(2, 49);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.interrupted).to.equal(true);
    expect(summary.strategies.fedavg.rounds).to.equal(lines.length);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).to.include('interrupted');
  });

  it('rejects a partition that leaves clients without data when emptyClient is "reject"', async () => {
    const cfg = parseSimulationConfig({ ...tiny, partition: { type: 'iid' }, clients: 60, emptyClient: 'reject' });
    let err: unknown;
    try {
      await runSimulation(cfg, { outDir: mkdtempSync(join(tmpdir(), 'fp-rej-')) });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(FedProfileError);
    expect((err as FedProfileError).message).to.match(/partition: 15 of 60 clients get no data/);
  });
});
