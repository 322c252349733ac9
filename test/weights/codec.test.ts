import { expect } from 'chai';
import {
  decodeVector, encodeVector, float32ToHalfBits, halfBitsToFloat32, inspectEncodedVector,
} from '../../shared/weights/index.js';
import { FedProfileError } from '../../shared/errors.js';

function seeded(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 48271) % 2147483647) / 2147483647;
}

describe('weights: float16 conversion', () => {
  it('converts known values, rounding to nearest even, with subnormals, overflow and specials', () => {
    const cases: [number, number][] = [
      [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800],
      [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [1e10, 0x7c00], [-Infinity, 0xfc00], [Infinity, 0x7c00],
      [2 ** -14, 0x0400], [2 ** -24, 0x0001], [-(2 ** -24), 0x8001], [2 ** -25, 0x0000], [2 ** -25 * 1.5, 0x0001],
      [3 * 2 ** -25, 0x0002], [1023.5 * 2 ** -24, 0x0400], [1022.5 * 2 ** -24, 0x03fe],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [1 + 2 ** -10, 0x3c01], [1e-10, 0x0000],
    ];
    for (const [x, bits] of cases) expect(float32ToHalfBits(x), `f16(${x})`).to.equal(bits);
    const nan = float32ToHalfBits(NaN);
    expect(nan & 0x7c00).to.equal(0x7c00);
    expect(nan & 0x3ff).to.not.equal(0);
    expect(halfBitsToFloat32(nan)).to.be.NaN;
  });

  it('every one of the 63,488 non-NaN half values survives half → float → half bit for bit', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue;
      const back = float32ToHalfBits(halfBitsToFloat32(h));
      if (back !== h) expect.fail(`0x${h.toString(16)} came back as 0x${back.toString(16)}`);
    }
    expect(halfBitsToFloat32(0x0001)).to.equal(2 ** -24);
    expect(halfBitsToFloat32(0x7bff)).to.equal(65504);
  });
});

describe('weights: vector codecs', () => {
  const rnd = seeded(7);
  const values = new Float32Array(10_001);
  for (let i = 0; i < values.length; i++) values[i] = (rnd() - 0.5) * (i % 3 === 0 ? 1e-3 : 2) + (i % 1000 === 0 ? 40 : 0);

  it('f32 is exact and its header describes it', () => {
    const bytes = encodeVector(values, 'f32');
    expect(bytes.length).to.equal(16 + 4 * values.length);
    expect(inspectEncodedVector(bytes)).to.deep.equal({ codec: 'f32', length: values.length, chunkSize: 0 });
    expect(Buffer.from(decodeVector(bytes).buffer).equals(Buffer.from(values.buffer))).to.equal(true);
    // Little-endian on the wire: 1.0f = 00 00 80 3f.
    expect(Array.from(encodeVector(Float32Array.of(1), 'f32').subarray(16))).to.deep.equal([0, 0, 0x80, 0x3f]);
  });

  it('decodes from an unaligned offset inside a bigger buffer', () => {
    const bytes = encodeVector(values, 'f32');
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    expect(Array.from(decodeVector(padded.subarray(3)).subarray(0, 5))).to.deep.equal(Array.from(values.subarray(0, 5)));
  });

  it('f16 stays within its documented bound (relative 2^-11 normal, absolute 2^-25 subnormal)', () => {
    const extra = Float32Array.from([1e-6, -3e-7, 6e-5, 65504, -1e-8]);
    const all = new Float32Array(values.length + extra.length);
    all.set(values);
    all.set(extra, values.length);
    const bytes = encodeVector(all, 'f16');
    expect(bytes.length).to.equal(16 + 2 * all.length);
    const back = decodeVector(bytes);
    let worstRel = 0;
    for (let i = 0; i < all.length; i++) {
      const x = all[i]!;
      const err = Math.abs(back[i]! - x);
      if (Math.abs(x) >= 2 ** -14) worstRel = Math.max(worstRel, err / Math.abs(x));
      else expect(err, `subnormal ${x}`).to.be.at.most(2 ** -25);
    }
    expect(worstRel).to.be.at.most(2 ** -11);
    expect(worstRel).to.be.above(2 ** -13); // the bound is tight, i.e. the test measures something
  });

  it('q8 stays within step/2 per chunk and costs ~1 byte per value', () => {
    const chunk = 256;
    const bytes = encodeVector(values, 'q8', { chunkSize: chunk });
    const chunks = Math.ceil(values.length / chunk);
    expect(bytes.length).to.equal(16 + 8 * chunks + values.length);
    const back = decodeVector(bytes);
    for (let c = 0; c < chunks; c++) {
      const part = values.subarray(c * chunk, (c + 1) * chunk);
      let min = Infinity;
      let max = -Infinity;
      for (const x of part) {
        min = Math.min(min, x);
        max = Math.max(max, x);
      }
      const bound = ((max - min) / 510) * (1 + 2 ** -20) + 2 ** -24 * Math.max(Math.abs(min), Math.abs(max));
      for (let i = c * chunk; i < Math.min(values.length, (c + 1) * chunk); i++) {
        const err = Math.abs(back[i]! - values[i]!);
        if (err > bound) expect.fail(`index ${i}: error ${err} > bound ${bound}`);
      }
    }
    // A constant chunk is exact.
    expect(Array.from(decodeVector(encodeVector(new Float32Array(10).fill(0.3), 'q8')))).to.deep.equal(Array(10).fill(Math.fround(0.3)));
  });

  it('handles empty vectors for every codec', () => {
    for (const codec of ['f32', 'f16', 'q8'] as const) expect(decodeVector(encodeVector(new Float32Array(0), codec)).length).to.equal(0);
  });

  it('rejects corrupt input with an INTEGRITY error and non-finite q8 input with BAD_INPUT', () => {
    const bytes = encodeVector(values, 'f16');
    const expectCode = (fn: () => unknown, code: string, msg: RegExp): void => {
      try {
        fn();
        expect.fail('should have thrown');
      } catch (e) {
        expect(e).to.be.instanceOf(FedProfileError);
        expect((e as FedProfileError).code).to.equal(code);
        expect((e as Error).message).to.match(msg);
      }
    };
    expectCode(() => decodeVector(bytes.subarray(0, bytes.length - 1)), 'INTEGRITY', /expected \d+ bytes/);
    expectCode(() => decodeVector(new Uint8Array(8)), 'INTEGRITY', /shorter than/);
    const badMagic = bytes.slice();
    badMagic[0] = 0;
    expectCode(() => decodeVector(badMagic), 'INTEGRITY', /magic/);
    const badCodec = bytes.slice();
    badCodec[5] = 9;
    expectCode(() => decodeVector(badCodec), 'INTEGRITY', /codec id 9/);
    expectCode(() => encodeVector(Float32Array.of(1, NaN), 'q8'), 'BAD_INPUT', /non-finite value NaN at index 1/);
  });
});
