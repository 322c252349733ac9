import { expect } from 'chai';
import nacl from 'tweetnacl';
import { combine, split } from 'shamir-secret-sharing';
import { buildNeighbourGraph } from '../../shared/secagg/graph.js';
import {
  boxKeyFromShared, boxOpen, generateIdentity, generateX25519, identitySigner, verifySignature, x25519, x25519Private,
  x25519PublicKey,
} from '../../shared/secagg/keys.js';
import { abortProbability, deriveGraphParams, parseSecAggParams } from '../../shared/secagg/params.js';
import { addMask, expandMask, pairMaskKey, selfMaskKey } from '../../shared/secagg/prg.js';
import { TRAILER, decodeSum, fractionalBits, quantise, quantisationErrorBound } from '../../shared/secagg/quantise.js';
import { combineShares, splitSecret } from '../../shared/secagg/shamir.js';
import { FedProfileError } from '../../shared/errors.js';

describe('SecAgg+ primitives', () => {
  it('Shamir shares interoperate with shamir-secret-sharing in both directions', async () => {
    const secret = new Uint8Array(nacl.randomBytes(32));
    const ours = splitSecret(secret, 10, 6);
    expect(await combine(ours.slice(2, 8))).to.deep.equal(secret);
    expect(combineShares(ours.slice(4))).to.deep.equal(secret);
    expect(combineShares(ours.slice(0, 5))).to.not.deep.equal(secret); // t − 1 shares say nothing
    const theirs = await split(secret, 10, 6);
    expect(combineShares(theirs.slice(1, 7))).to.deep.equal(secret);
    expect(combineShares([ours[0]!, ours[0]!])).to.equal(undefined);
  });

  it('keys are nacl-compatible: X25519 = nacl.scalarMult, box key = nacl.box.before, signatures = nacl.sign', () => {
    const a = generateX25519();
    const b = nacl.box.keyPair();
    expect(x25519PublicKey(a.secretKey)).to.deep.equal(nacl.scalarMult.base(a.secretKey));
    expect(a.publicKey).to.deep.equal(nacl.scalarMult.base(a.secretKey));
    const shared = x25519(a.privateKey, b.publicKey)!;
    expect(shared).to.deep.equal(nacl.scalarMult(a.secretKey, b.publicKey));
    expect(x25519(x25519Private(a.secretKey), b.publicKey)).to.deep.equal(shared);
    const key = boxKeyFromShared(shared);
    expect(key).to.deep.equal(nacl.box.before(b.publicKey, a.secretKey));
    const nonce = nacl.randomBytes(24);
    const sealed = nacl.box(new Uint8Array([1, 2, 3]), nonce, a.publicKey, b.secretKey);
    expect(boxOpen(sealed, nonce, key)).to.deep.equal(new Uint8Array([1, 2, 3]));
    expect(x25519(a.privateKey, new Uint8Array(32))).to.equal(undefined); // low-order point refused

    const id = generateIdentity();
    expect(nacl.sign.keyPair.fromSeed(id.secretKey.subarray(0, 32)).publicKey).to.deep.equal(id.publicKey);
    const msg = new Uint8Array([9, 8, 7]);
    const sig = identitySigner(id)(msg);
    expect(sig).to.deep.equal(nacl.sign.detached(msg, id.secretKey));
    expect(verifySignature(msg, sig, id.publicKey)).to.equal(true);
    expect(verifySignature(new Uint8Array([9, 8, 6]), sig, id.publicKey)).to.equal(false);
    expect(verifySignature(msg, sig, generateIdentity().publicKey)).to.equal(false);
    expect(verifySignature(msg, sig.subarray(1), id.publicKey)).to.equal(false);
  });

  it('the PRG is ChaCha20 keyed by HKDF, bound to federation, round and pair; opposite signs cancel', () => {
    const s = new Uint8Array(32).fill(3);
    const k = pairMaskKey(s, 'f', 1, 'alice', 'bob');
    expect(pairMaskKey(s, 'f', 1, 'bob', 'alice')).to.deep.equal(k); // order-independent pair
    expect(pairMaskKey(s, 'f', 2, 'alice', 'bob')).to.not.deep.equal(k);
    expect(pairMaskKey(s, 'g', 1, 'alice', 'bob')).to.not.deep.equal(k);
    expect(selfMaskKey(s, 'f', 1, 'alice')).to.not.deep.equal(k);
    const v = new Uint32Array(100_003);
    for (let i = 0; i < v.length; i++) v[i] = i * 2654435761;
    const orig = v.slice();
    addMask(v, k, 1);
    expect(v).to.not.deep.equal(orig);
    addMask(v, k, -1);
    expect(v).to.deep.equal(orig);
    // Slicing must not change the stream: the first words equal a short expansion.
    expect(expandMask(k, 70_000).subarray(0, 10)).to.deep.equal(expandMask(k, 10));
  });

  it('quantisation: the sum of n clients at ±clip with maxWeight never wraps, and errors stay below the bound', () => {
    for (const n of [3, 100, 5000]) {
      const clip = 0.5;
      const f = fractionalBits(n, clip);
      for (const sign of [1, -1]) {
        const sum = new Uint32Array(4 + TRAILER);
        for (let i = 0; i < n; i++) {
          const { vector } = quantise(new Float32Array(4).fill(sign * 10), 7, 7, clip, f);
          for (let j = 0; j < sum.length; j++) sum[j] = sum[j]! + vector[j]!;
        }
        const d = decodeSum(sum, n, 7, f);
        expect(d.totalWeight).to.equal(7 * n);
        for (const x of d.mean) expect(Math.abs(x - sign * clip)).to.be.at.most(quantisationErrorBound(n, f, 7 * n, 7) + 1e-7);
        expect(d.clippedFraction).to.equal(1);
      }
    }
    expect(() => fractionalBits(5000, 1e6)).to.throw(FedProfileError, /too large/);
  });

  it('stochastic rounding is unbiased', () => {
    const f = 4; // coarse grid: 1/16
    const x = new Float32Array(20000).fill(0.03); // 0.48 of a step
    const { vector } = quantise(x, 1, 1, 1, f);
    let s = 0;
    for (let i = 0; i < x.length; i++) s += vector[i]! | 0;
    expect(s / x.length / 16).to.be.closeTo(0.03, 0.002);
  });

  it('the neighbour graph is k-regular, symmetric and without self-loops', () => {
    const ids = Array.from({ length: 50 }, (_, i) => `n${i}`);
    const g = buildNeighbourGraph(ids, 8);
    for (const [u, nb] of g) {
      expect(new Set(nb).size).to.equal(8);
      expect(nb).to.not.include(u);
      for (const v of nb) expect(g.get(v)).to.include(u);
    }
    expect(buildNeighbourGraph(ids.slice(0, 5), 8).get('n0')).to.have.length(4);
  });

  it('parameters: t > k/2 is enforced and the derived defaults meet their abort-probability target', () => {
    expect(() => parseSecAggParams({ federationId: 'f', round: 1, dimension: 3, neighbors: 10, threshold: 5 })).to.throw(FedProfileError, /greater than/);
    expect(() => parseSecAggParams({ federationId: 'f', round: 1, dimension: 3, neighbors: 10, threshold: 11 })).to.throw(FedProfileError, /exceed/);
    expect(() => parseSecAggParams({ federationId: '', round: 1, dimension: 3 })).to.throw(FedProfileError, /federationId/);
    const p = parseSecAggParams({ federationId: 'f', round: 1, dimension: 3 });
    const table = [100, 500, 5000].map((n) => ({ n, ...deriveGraphParams(n, p) }));
    expect(table).to.deep.equal([
      { n: 100, neighbors: 34, threshold: 18 }, { n: 500, neighbors: 36, threshold: 19 }, { n: 5000, neighbors: 40, threshold: 21 },
    ]);
    for (const { n, neighbors, threshold } of table) {
      expect(abortProbability(n, neighbors, threshold, 0.1)).to.be.at.most(1e-6);
      expect(abortProbability(n, neighbors - 2, threshold - 1, 0.1)).to.be.above(1e-6); // the smallest such k
    }
    expect(deriveGraphParams(10, p)).to.deep.equal({ neighbors: 9, threshold: 5 });
    expect(() => deriveGraphParams(2, p)).to.throw(FedProfileError, /at least 3/);
    expect(() => deriveGraphParams(50, parseSecAggParams({ federationId: 'f', round: 1, dimension: 3, neighbors: 7 }))).to.throw(/even/);
  });
});
