import { expect } from 'chai';
import { ExactPart } from '../../shared/compression/exact-part.js';
import { FedProfileError } from '../../shared/errors.js';
import { encodeVector } from '../../shared/weights/codec.js';
import { parseSimulationConfig } from '../../simulations/config.js';
import { createPrivacyHooks } from '../../simulations/strategies/privacy-hooks.js';
import { tinyExperiment } from '../simulations/fixtures.js';

const SPECS = [
  { name: 'embed/item', shape: [2, 3] }, { name: 'stats/popularity', shape: [3] }, { name: 'stats/transitions', shape: [2, 2] },
  { name: 'head/x', shape: [2] }, { name: 'stats/scorer-validation', shape: [1] },
];

describe('compression: the statistics stay float32 beside a lossy codec', () => {
  it('takes the stats/* positions out and puts them back exactly', () => {
    const part = ExactPart.statistics(SPECS)!;
    expect(part.exactCount).to.equal(8);
    expect(part.exactBytes).to.equal(32);
    const v = Float32Array.from({ length: 16 }, (_, i) => i);
    expect(Array.from(part.lossy(v))).to.deep.equal([0, 1, 2, 3, 4, 5, 13, 14]);
    const joined = part.join(Float32Array.of(-1, -2, -3, -4, -5, -6, -7, -8), v);
    expect(Array.from(joined)).to.deep.equal([-1, -2, -3, -4, -5, -6, 6, 7, 8, 9, 10, 11, 12, -7, -8, 15]);
    expect(ExactPart.statistics([{ name: 'embed/item', shape: [4] }])).to.equal(null);
    expect(() => part.lossy(new Float32Array(15))).to.throw(FedProfileError, /15 values, expected 16/);
    expect(() => part.join(new Float32Array(7), v)).to.throw(FedProfileError, /lossy part has 7 values, expected 8/);
  });

  it('q8 both ways: downloads and uploads keep the statistics exact and count them as float32', () => {
    const cfg = parseSimulationConfig({ ...tinyExperiment, strategies: [{ name: 'fedavg' }], compression: { download: 'q8', upload: 'q8' } });
    const hooks = createPrivacyHooks(cfg, 'fedavg', ['a', 'b'], 2);
    const part = ExactPart.statistics(SPECS)!;
    // Small counts beside large weights: q8 over one chunk would round them to its step of ~0.4.
    const global = Float32Array.from([50, -50, 3, 7, 1, 2, 1e-3, 2e-3, 3e-3, 0, 5e-4, 4e-4, 7e-3, 9, -9, 0.25]);
    const down = hooks.download(global, part).global;
    const lossy = hooks.download(global, null).global;
    for (const i of [6, 7, 8, 9, 10, 11, 12, 15]) expect(down[i]).to.equal(global[i]);
    expect([6, 7, 8, 10, 11, 12].some((i) => lossy[i] !== global[i])).to.equal(true);
    const up = hooks.clientUpdate('a', 1, global, 10, part);
    for (const i of [6, 7, 8, 9, 10, 11, 12, 15]) expect(up.update[i]).to.equal(global[i]);
    expect(up.encodedBytes).to.equal(encodeVector(part.lossy(global), 'q8').byteLength + 32);
  });
});
