import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyOverrides, loadSimulationConfig, parseSimulationConfig } from '../../simulations/config.js';
import { FedProfileError } from '../../shared/errors.js';
import { PROFILE_SMALL } from '../../shared/model/config.js';

const base = {
  data: { source: 'synthetic' },
  partition: { type: 'dirichlet', alpha: 0.5 },
  clients: 20,
  strategies: [{ name: 'centralized' }, { name: 'fedavg' }],
};

function errorOf(f: () => unknown): FedProfileError {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(FedProfileError);
    return e as FedProfileError;
  }
  throw new Error('expected an error');
}

describe('simulation config', () => {
  it('fills defaults and merges model overrides over PROFILE_SMALL', () => {
    const c = parseSimulationConfig({ ...base, model: { dModel: 32 } });
    expect(c.model).to.deep.equal({ ...PROFILE_SMALL, dModel: 32 });
    expect(c.seed).to.equal(42);
    expect(c.training.rounds).to.equal(10);
    expect(c.secureAggregation.enabled).to.equal(false);
    expect(c.emptyClient).to.equal('skip');
    expect(c.data).to.include({ source: 'synthetic', users: 600, merchants: 20 });
  });

  it('names the field and the allowed range of an out-of-range value', () => {
    const e = errorOf(() => parseSimulationConfig({ ...base, training: { rounds: 0 } }));
    expect(e.code).to.equal('BAD_CONFIG');
    expect(e.message).to.include('training.rounds: must be >= 1 (got 0)');
    expect(errorOf(() => parseSimulationConfig({ ...base, dropout: 0.95 })).message).to.include('dropout: must be <= 0.9 (got 0.95)');
    expect(errorOf(() => parseSimulationConfig({ ...base, partition: { type: 'dirichlet', alpha: -1 } })).message)
      .to.include('partition.alpha: must be > 0 (got -1)');
    expect(errorOf(() => parseSimulationConfig({ ...base, strategies: [{ name: 'fedprox', mu: -2 }] })).message)
      .to.include('strategies[0].mu: must be >= 0 (got -2)');
  });

  it('rejects unknown keys, naming where they are', () => {
    expect(errorOf(() => parseSimulationConfig({ ...base, rounds: 5 })).message).to.include('unknown key "rounds"');
    expect(errorOf(() => parseSimulationConfig({ ...base, training: { epochs: 2 } })).message).to.include('training: unknown key "epochs"');
    expect(errorOf(() => parseSimulationConfig({ ...base, model: { dmodel: 2 } })).message).to.include('model: unknown key "dmodel"');
  });

  it('lists the allowed values of a wrong discriminator', () => {
    const e = errorOf(() => parseSimulationConfig({ ...base, partition: { type: 'random' } }));
    expect(e.message).to.include('partition.type');
    expect(e.message).to.include('"natural", "iid", "dirichlet", "quantity-skew", "per-user"');
    expect(errorOf(() => parseSimulationConfig({ ...base, strategies: [{ name: 'fedsgd' }] })).message).to.include('strategies[0].name');
  });

  it('checks cross-field rules: clients required, duplicates, model refinements, DP combinations', () => {
    expect(errorOf(() => parseSimulationConfig({ ...base, clients: undefined })).message).to.include('clients: required for partition.type "dirichlet"');
    expect(errorOf(() => parseSimulationConfig({ ...base, strategies: [{ name: 'fedavg' }, { name: 'fedavg' }] })).message).to.include('"fedavg" is listed twice');
    expect(errorOf(() => parseSimulationConfig({ ...base, model: { heads: 3 } })).message).to.include('model.heads: dModel must be divisible by heads');
    expect(errorOf(() => parseSimulationConfig({ ...base, data: { source: 'synthetic', categories: 40 } })).message).to.include('model.categoryVocab');
    expect(errorOf(() => parseSimulationConfig({ ...base, secureAggregation: { enabled: true, neighbors: 6, threshold: 3 } })).message)
      .to.include('secureAggregation.threshold: must be > neighbors / 2');
    // DP is applied now; what cannot hold is refused (distributed noise needs SecAgg to hide the shares).
    expect(parseSimulationConfig({ ...base, dp: { enabled: true } }).dp?.enabled).to.equal(true);
    expect(errorOf(() => parseSimulationConfig({ ...base, dp: { enabled: true, mode: 'distributed' } })).message).to.include('dp.mode');
    expect(parseSimulationConfig({ ...base, dp: { enabled: false, noiseMultiplier: 1.1 } }).dp?.noiseMultiplier).to.equal(1.1);
  });

  it('data paths: a missing path, a MovieLens folder without movies.csv, and the --data-path override', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-cfg-'));
    const ml = join(dir, 'ml');
    mkdirSync(ml);
    writeFileSync(join(ml, 'ratings.csv'), 'userId,movieId,rating,timestamp\n1,1,4.0,964982703\n');
    const cfgFile = join(dir, 'exp.json');
    writeFileSync(cfgFile, JSON.stringify({ ...base, data: { source: 'movielens', path: '${DATA}' }, partition: { type: 'iid' }, clients: 2 }));
    expect(errorOf(() => loadSimulationConfig(cfgFile)).message).to.include('data.path: "${DATA}" is a placeholder; pass the real location with --data-path');
    expect(errorOf(() => loadSimulationConfig(cfgFile, { dataPath: join(dir, 'nope') })).message).to.match(/^data\.path: not found: .*nope$/);
    const e = errorOf(() => loadSimulationConfig(cfgFile, { dataPath: ml }));
    expect(e.message).to.include(`data.path: MovieLens folder ${ml} has no movies.csv`);
    writeFileSync(join(ml, 'movies.csv'), 'movieId,title,genres\n1,Toy Story (1995),Animation\n');
    const ok = loadSimulationConfig(cfgFile, { dataPath: ml, seed: 9 });
    expect(ok.data).to.deep.equal({ source: 'movielens', path: ml });
    expect(ok.seed).to.equal(9);
    const synthetic = parseSimulationConfig(base);
    expect(errorOf(() => applyOverrides(synthetic, { dataPath: ml })).message).to.include('--data-path: data.source is "synthetic"');
    expect(errorOf(() => loadSimulationConfig(join(dir, 'missing.json'))).message).to.include('--config: file not found');
    writeFileSync(join(dir, 'bad.json'), '{ nope');
    expect(errorOf(() => loadSimulationConfig(join(dir, 'bad.json'))).message).to.include('not valid JSON');
  });

  it('every shipped experiment file is valid', () => {
    const dir = join(import.meta.dirname, '../../simulations/experiments');
    const ml = mkdtempSync(join(tmpdir(), 'fp-ml-'));
    writeFileSync(join(ml, 'ratings.csv'), 'userId,movieId,rating,timestamp\n1,1,4.0,964982703\n');
    writeFileSync(join(ml, 'movies.csv'), 'movieId,title,genres\n1,Toy Story (1995),Animation\n');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files).to.include.members(['synthetic-noniid.json', 'synthetic-iid.json', 'cross-device.json', 'movielens-example.json', 'demo-sim.json']);
    for (const f of files) {
      const c = f.startsWith('movielens-')
        ? loadSimulationConfig(join(dir, f), { dataPath: ml })
        : loadSimulationConfig(join(dir, f));
      expect(c.strategies.length, f).to.be.above(0);
    }
  });
});
