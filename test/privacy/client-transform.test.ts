import { expect } from 'chai';
import { createClientAggregator } from '../../client-sdk/aggregators.js';
import { decodeUpload } from '../../shared/compression/index.js';
import { FedProfileError } from '../../shared/errors.js';
import { takeClientPrivacy } from '../../shared/privacy/index.js';
import { l2Norm } from '../../shared/weights/delta.js';

const args = (params: Record<string, unknown>, kind: 'plain' | 'secagg' = 'plain') => createClientAggregator(kind, {
  federationId: 'f', clientId: 'c', round: 1, params, identity: { publicKey: new Uint8Array(32), privateKey: new Uint8Array(32) } as never, vectorLength: 4,
});

describe('client-side clipping, noise and encoding from the fit instruction', () => {
  it('clips to clipNorm and sends weight 1 when asked (no noise share in central mode)', () => {
    const [m] = args({ dimension: 4, privacy: { clipNorm: 1, noiseStd: 0, unitWeight: true } }).submit(Float32Array.of(3, 4, 0, 0), 250);
    const p = m!.payload as { update: Float32Array; weight: number };
    expect(Array.from(p.update)).to.deep.equal([0.6000000238418579, 0.800000011920929, 0, 0]);
    expect(p.weight).to.equal(1);
  });

  it('norm bounding keeps the example count as the weight; without params.privacy the update is untouched', () => {
    const [m] = args({ privacy: { clipNorm: 10, noiseStd: 0, unitWeight: false } }).submit(Float32Array.of(3, 4, 0, 0), 250);
    expect((m!.payload as { weight: number }).weight).to.equal(250);
    const raw = Float32Array.of(30, 40, 0, 0);
    const [n] = args({}).submit(raw, 7);
    expect((n!.payload as { update: Float32Array }).update).to.equal(raw);
  });

  it('adds the noise share: the sent update differs from the clipped one by about noiseStd per coordinate', () => {
    const big = createClientAggregator('plain', {
      federationId: 'f', clientId: 'c', round: 1, identity: {} as never, vectorLength: 20_000, params: { privacy: { clipNorm: 1, noiseStd: 0.5, unitWeight: true } },
    });
    const [m] = big.submit(new Float32Array(20_000), 3);
    const u = (m!.payload as { update: Float32Array }).update;
    expect(l2Norm(u) / Math.sqrt(u.length)).to.be.within(0.49, 0.51);
  });

  it('clips and noises before encoding: the decoded upload is the clipped update within a q8 step', () => {
    const [m] = args({ privacy: { clipNorm: 1, noiseStd: 0, unitWeight: true }, compression: { codec: 'q8' } }).submit(Float32Array.of(30, 40, 0, 0), 9);
    const p = m!.payload as { encoded: Uint8Array; weight: number };
    expect(p.weight).to.equal(1);
    const d = decodeUpload(p.encoded);
    [0.6, 0.8, 0, 0].forEach((v, i) => expect(d[i]).to.be.closeTo(v, 0.8 / 255));
  });

  it('refuses malformed params naming the field, and compression with SecAgg', () => {
    expect(() => takeClientPrivacy({ privacy: { clipNorm: -1, noiseStd: 0, unitWeight: true } })).to.throw(FedProfileError, /aggregation\.params\.privacy\.clipNorm/);
    expect(() => args({ compression: { codec: 'zip' } })).to.throw(FedProfileError, /aggregation\.params\.compression\.codec/);
    expect(() => args({ dimension: 4, compression: { codec: 'q8' } }, 'secagg')).to.throw(FedProfileError, /upload compression applies to plain aggregation only, not "secagg"/);
  });
});
