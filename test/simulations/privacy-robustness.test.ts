import { expect } from 'chai';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig, type SimulationConfigInput } from '../../simulations/config.js';
import { runSimulation } from '../../simulations/runner.js';
import { computeEpsilon } from '../../shared/privacy/rdp.js';
import { ConfigError } from '../../shared/errors.js';
import { metricLines, tinyExperiment, type MetricLine } from './fixtures.js';

const fedOnly = (extra: Partial<SimulationConfigInput>): SimulationConfigInput => ({
  ...tinyExperiment, strategies: [{ name: 'fedavg' }], training: { ...tinyExperiment.training, rounds: 2 }, ...extra,
});

let lastOut = '';
async function run(cfg: SimulationConfigInput): Promise<MetricLine[]> {
  const out = mkdtempSync(join(tmpdir(), 'fp-priv-'));
  lastOut = out;
  await runSimulation(parseSimulationConfig(cfg), { outDir: out, plots: false });
  return metricLines(out);
}

const agg = (l: MetricLine) => l.aggregation as Record<string, number>;

describe('simulation: DP-FedAvg, robust aggregation and compression', function () {
  this.timeout(120_000);

  it('central DP: ε per round matches the accountant, and the ε budget stops the run', async () => {
    const lines = await run(fedOnly({ dp: { enabled: true, clipNorm: 0.5, noiseMultiplier: 1.5, delta: 1e-5 } }));
    expect(lines.map((l) => l.round)).to.deep.equal([1, 2, 3]);
    lines.forEach((l, i) => {
      // 3 of 3 clients every round: q = 1, fixed-size.
      const want = computeEpsilon({ samplingRate: 1, noiseMultiplier: 1.5, steps: i + 1, delta: 1e-5, sampling: 'fixed-size' }).epsilon;
      expect(agg(l).dpEpsilon).to.be.closeTo(want, 1e-9);
      expect(agg(l).dpEffectiveNoiseMultiplier).to.equal(1.5);
      expect(agg(l).dpDistributed).to.equal(0);
      expect(l.ndcg10).to.be.within(0, 1);
    });
    const summary = JSON.parse(readFileSync(join(lastOut, 'summary.json'), 'utf8'));
    expect(summary.strategies.fedavg.privacy).to.deep.equal({ epsilon: agg(lines[2]!).dpEpsilon, delta: 1e-5, rounds: 3 });
    expect(readFileSync(join(lastOut, 'report.md'), 'utf8')).to.match(/Differential privacy[^\n]*\n\n\| strategy \| ε/);
    const twoRounds = computeEpsilon({ samplingRate: 1, noiseMultiplier: 1.5, steps: 2, delta: 1e-5, sampling: 'fixed-size' }).epsilon;
    const stopped = await run(fedOnly({ dp: { enabled: true, clipNorm: 0.5, noiseMultiplier: 1.5, epsilonBudget: twoRounds + 0.01 } }));
    expect(stopped.map((l) => l.round)).to.deep.equal([1, 2]);
    expect(agg(stopped.at(-1)!).dpEpsilon).to.be.at.most(twoRounds + 0.01);
  });

  it('Poisson sampling: each client joins a round with rate q, and the accountant uses the Poisson bound', async () => {
    const lines = await run(fedOnly({
      training: { ...tinyExperiment.training, rounds: 5, clientsPerRound: 2 },
      dp: { enabled: true, clipNorm: 0.5, noiseMultiplier: 1.5, sampling: 'poisson' },
    }));
    const sizes = lines.map((l) => l.clientsSelected as number);
    expect(new Set(sizes).size, `cohort sizes ${sizes.join(',')}`).to.be.greaterThan(1);
    // Every round is charged, empty ones too (whether anyone was sampled is itself data-dependent).
    for (const [i, l] of lines.entries()) {
      expect(agg(l).dpSamplingRate).to.be.closeTo(2 / 3, 1e-12);
      const want = computeEpsilon({ samplingRate: 2 / 3, noiseMultiplier: 1.5, steps: i + 1, delta: 1e-5, sampling: 'poisson' }).epsilon;
      expect(agg(l).dpEpsilon).to.be.closeTo(want, 1e-9);
    }
  });

  it('distributed DP under SecAgg: clients noise their shares, the rounding bound lowers the multiplier a hair', async () => {
    const lines = await run(fedOnly({
      secureAggregation: { enabled: true, clip: 2 }, training: { ...tinyExperiment.training, rounds: 1 },
      dp: { enabled: true, clipNorm: 0.5, noiseMultiplier: 1 },
    }));
    expect(lines).to.have.length(2);
    for (const l of lines) {
      expect(agg(l).dpDistributed).to.equal(1);
      expect(agg(l).dpEffectiveNoiseMultiplier).to.be.below(1).and.above(0.99);
      expect(agg(l).clippedFraction ?? 0).to.be.below(1e-3);
    }
  });

  it('refuses combinations that cannot hold, naming the field', () => {
    const bad = (extra: Partial<SimulationConfigInput>, re: RegExp) => expect(() => parseSimulationConfig(fedOnly(extra))).to.throw(ConfigError, re);
    bad({ secureAggregation: { enabled: true }, robustAggregation: { rule: 'median' } }, /robustAggregation\.rule: "median" needs every individual update/);
    bad({ secureAggregation: { enabled: true }, compression: { upload: 'q8' } }, /compression\.upload: applies to plain mode only/);
    bad({ dp: { enabled: true, mode: 'distributed' } }, /dp\.mode: "distributed" noise only hides updates under secure aggregation/);
    bad({ secureAggregation: { enabled: true, clip: 0.5 }, dp: { enabled: true, clipNorm: 1, noiseMultiplier: 1 }, training: { ...tinyExperiment.training, clientsPerRound: 3 } }, /secureAggregation\.clip: must be >= 4 x the per-client DP noise std/);
    bad({ robustAggregation: { rule: 'multi-krum', byzantine: 1 }, training: { ...tinyExperiment.training, clientsPerRound: 3 } }, /robustAggregation\.byzantine: multi-Krum with f = 1 needs more than 4 clients per round, got 3/);
    bad({ dp: { enabled: true }, robustAggregation: { rule: 'median' } }, /not covered/);
    expect(() => parseSimulationConfig(fedOnly({ secureAggregation: { enabled: true }, robustAggregation: { rule: 'norm-bound', maxNorm: 1 } }))).not.to.throw();
    bad({ robustAggregation: { rule: 'krum' } as never }, /robustAggregation\.rule: unknown or missing "rule"; expected one of "mean", "median"/);
    bad({ dp: { enabled: true, noiseMultiplier: 0 } }, /dp\.noiseMultiplier: must be > 0/);
  });

  it('checks the SecAgg clip against the DP noise once the cohort size is known (natural partition)', async () => {
    const cfg = fedOnly({ secureAggregation: { enabled: true, clip: 0.5 }, dp: { enabled: true, clipNorm: 1, noiseMultiplier: 1 } });
    const out = mkdtempSync(join(tmpdir(), 'fp-priv-'));
    let err: unknown;
    try { await runSimulation(parseSimulationConfig(cfg), { outDir: out, plots: false }); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as Error).message).to.match(/secureAggregation\.clip: must be >= 2\.31 /);
  });

  it('attackers move the model; the median ignores them; compression shrinks the bytes it claims to', async () => {
    const attack = { fraction: 0.34, kind: 'scale' as const, scale: 50 };
    const [clean, attacked, defended, compressed] = await Promise.all([
      run(fedOnly({})),
      run(fedOnly({ attack })),
      run(fedOnly({ attack, robustAggregation: { rule: 'median' } })),
      run(fedOnly({ compression: { download: 'f16', upload: 'q8' } })),
    ]);
    expect(agg(attacked[0]!).attackers).to.equal(1);
    const step = (ls: MetricLine[]) => agg(ls[0]!).meanDeltaNorm!;
    // One of three clients scaled ×50 inflates the mean update; the median of three stays near the honest ones.
    expect(step(attacked)).to.be.above(10 * step(clean));
    expect(step(defended)).to.be.below(2 * step(clean));
    const ratio = (k: 'bytesUp' | 'bytesDown') => (compressed[0]![k] as number) / (clean[0]![k] as number);
    expect(ratio('bytesUp')).to.be.within(0.24, 0.30);
    expect(ratio('bytesDown')).to.be.within(0.49, 0.52);
  });

  it('PEFT (BitFit): fine-tuning rounds ship only the slice, also under SecAgg; pre-training ships the whole model', async () => {
    const [full, peft] = await Promise.all([
      run(fedOnly({ secureAggregation: { enabled: true }, compression: { download: 'f32', upload: 'f32' } })),
      run(fedOnly({ secureAggregation: { enabled: true }, peft: { method: 'bitfit' } })),
    ]);
    expect(agg(peft[0]!).peftParameters).to.equal(undefined);
    expect(peft[0]!.bytesUp).to.equal(full[0]!.bytesUp);
    for (const i of [1, 2]) {
      expect(agg(peft[i]!).peftParameters).to.be.a('number');
      expect((peft[i]!.bytesUp as number) / (full[i]!.bytesUp as number)).to.be.below(0.35);
    }
    // Round 2 follows pre-training, so clients fetch the new encoder once; round 3 downloads the slice only.
    expect(peft[1]!.bytesDown).to.be.closeTo(full[1]!.bytesDown as number, 0.1 * (full[1]!.bytesDown as number));
    // (SecAgg+'s own downstream messages, the same size for both, keep the ratio above the slice's share.)
    expect((peft[2]!.bytesDown as number) / (full[2]!.bytesDown as number)).to.be.below(0.36);
    expect(peft[2]!.ndcg10).to.be.within(0, 1);
  });

  it('PEFT with transition statistics: they travel in fine-tuning rounds only until averaged under a fixed index', async () => {
    const model = { ...tinyExperiment.model, transitionItems: 12, loraRank: 2 };
    const training = { ...tinyExperiment.training, rounds: 3 };
    const [one, two, adapters] = await Promise.all([
      run(fedOnly({ model, training, peft: { method: 'lora' } })),
      run(fedOnly({ model, training: { ...training, pretrainRounds: 2, rounds: 2 }, peft: { method: 'lora' } })),
      run(fedOnly({ model: { ...tinyExperiment.model, transitionItems: 12, adapterSize: 2 }, training, peft: { method: 'adapter' } })),
    ]);
    // Popularity and index (2 × itemVocab), adjacent and window tables (2 × 12²), category rows (categoryVocab × itemVocab).
    const counts = 2 * 128 + 2 * 12 * 12 + 8 * 128;
    // One pre-training round fixes the index; the first fine-tuning round counts transitions in that order.
    expect(one.map((l) => agg(l).peftStatistics ?? 0)).to.deep.equal([0, 1, 0, 0]);
    const [withStats, steady] = [agg(one[1]!).peftParameters!, agg(one[2]!).peftParameters!];
    expect(withStats - steady).to.equal(counts);
    expect(agg(one[3]!).peftParameters).to.equal(steady);
    // Upload: the statistics round carries the counts, later rounds only the slice. Download: the encoder
    // after pre-training (round 2), the slice and the new statistics (round 3), then the slice (round 4).
    const perClient = (l: MetricLine, k: 'bytesUp' | 'bytesDown') => (l[k] as number) / (l[k === 'bytesUp' ? 'clientsCompleted' : 'clientsSelected'] as number);
    expect(perClient(one[2]!, 'bytesUp')).to.equal(perClient(one[3]!, 'bytesUp'));
    expect(perClient(one[1]!, 'bytesUp') - perClient(one[2]!, 'bytesUp')).to.be.within(4 * counts, 4 * counts + 64);
    expect(perClient(one[1]!, 'bytesDown')).to.be.closeTo(perClient(one[0]!, 'bytesDown'), 64);
    expect(perClient(one[2]!, 'bytesDown') - perClient(one[3]!, 'bytesDown')).to.be.within(4 * counts, 4 * counts + 64);
    // Two pre-training rounds already settle them: fine-tuning ships the slice from its first round on.
    expect(two.map((l) => agg(l).peftStatistics ?? 0)).to.deep.equal([0, 0, 0, 0]);
    expect(agg(two[2]!).peftParameters).to.equal(steady);
    expect(perClient(two[3]!, 'bytesDown')).to.equal(perClient(one[3]!, 'bytesDown'));
    // Adapters (d = 8, r = 2, one block, after attention and FFN): 2 × (8·2 + 2 + 2·8 + 8) = 84 weights
    // instead of LoRA's 1 × 2 × ((8 + 24) + (8 + 8) + (8 + 16) + (16 + 8)) = 192; the heads and scorer validation are shared.
    expect(adapters.map((l) => agg(l).peftStatistics ?? 0)).to.deep.equal([0, 1, 0, 0]);
    expect(steady - agg(adapters[3]!).peftParameters!).to.equal(192 - 84);
    expect(adapters[3]!.ndcg10).to.be.within(0, 1);
  });

  it('PEFT with q8 error feedback: the compressor follows the switch from the whole model to the slice', async () => {
    const lines = await run(fedOnly({ peft: { method: 'bitfit' }, compression: { download: 'q8', upload: 'q8' } }));
    expect(lines).to.have.length(3);
    // The slice is every bias plus the heads (wide & deep, with their auxiliary layer): about a quarter of this tiny model.
    expect((lines[2]!.bytesUp as number) / (lines[0]!.bytesUp as number)).to.be.below(0.35);
  });
});
