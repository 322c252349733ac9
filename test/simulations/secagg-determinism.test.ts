import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig, type SimulationConfigInput } from '../../simulations/config.js';
import { runSimulation } from '../../simulations/runner.js';
import { simulationRoundingSeed } from '../../simulations/strategies/simulation-seeds.js';
import { metricLines, tinyExperiment, type MetricLine } from './fixtures.js';

/** The tiny experiment with 5 merchants, so SecAgg+ survives a dropout and a straggler. */
const tinySecAgg: SimulationConfigInput = {
  ...tinyExperiment,
  name: 'tiny-secagg',
  seed: 7,
  data: { source: 'synthetic', users: 50, merchants: 5, categories: 6, itemsPerCategory: 15, days: 21 },
  strategies: [{ name: 'fedavg' }],
  training: { pretrainRounds: 1, rounds: 2, localEpochs: 1, batchSize: 16, learningRate: 0.01 },
  secureAggregation: { enabled: true, clip: 0.5 },
  dropout: 0.2,
  stragglers: { rate: 0.1 },
};

type Line = MetricLine;

/** Everything but wall-clock and CPU-time figures. */
function withoutTimes(l: Line): Line {
  const { seconds: _s, totalSeconds: _t, timing: _x, aggregation, ...rest } = l;
  const { secaggServerSeconds: _a, secaggClientSeconds: _b, ...agg } = aggregation as Record<string, number>;
  return { ...rest, aggregation: agg };
}

describe('fedprofile simulate with SecAgg+ (reproducibility)', function () {
  this.timeout(120_000);

  it('gives bit-identical metrics for the same config and seed, with dropouts and stragglers', async () => {
    const run = async () => {
      const out = mkdtempSync(join(tmpdir(), 'fp-secagg-det-'));
      await runSimulation(parseSimulationConfig(tinySecAgg), { outDir: out, plots: false });
      return metricLines(out);
    };
    const a = await run();
    const b = await run();
    expect(a.map((l) => `${l.strategy}/${l.round}`)).to.deep.equal(['fedavg/1', 'fedavg/2', 'fedavg/3']);
    // The run must really exercise SecAgg+ and lose clients, or the comparison proves little.
    for (const l of a) {
      const agg = l.aggregation as Record<string, number>;
      expect(agg.modulusBits, `round ${l.round}`).to.equal(32);
      expect(agg.aborted, `round ${l.round}`).to.equal(undefined);
    }
    expect(a.reduce((s, l) => s + (l.clientsDropped as number), 0)).to.be.above(0);
    expect(a.map(withoutTimes)).to.deep.equal(b.map(withoutTimes));
  });

  it('derives a distinct rounding seed per seed, strategy, round and client', () => {
    const hex = (s: number, st: string, r: number, id: string) => Buffer.from(simulationRoundingSeed(s, st, r, id)).toString('hex');
    const all = [hex(7, 'fedavg', 1, 'a'), hex(8, 'fedavg', 1, 'a'), hex(7, 'fedprox', 1, 'a'), hex(7, 'fedavg', 2, 'a'), hex(7, 'fedavg', 1, 'b')];
    expect(new Set(all).size).to.equal(5);
    expect(hex(7, 'fedavg', 1, 'a')).to.equal(all[0]);
    expect(simulationRoundingSeed(7, 'fedavg', 1, 'a')).to.have.length(32);
  });
});
