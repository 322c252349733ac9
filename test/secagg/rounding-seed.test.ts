import { expect } from 'chai';
import { SecAggClientSession } from '../../shared/secagg/client.js';
import { SecAggError } from '../../shared/secagg/errors.js';
import { buildNeighbourGraph } from '../../shared/secagg/graph.js';
import { generateIdentity } from '../../shared/secagg/keys.js';
import { MSG } from '../../shared/secagg/messages.js';
import type { SecAggParamsInput } from '../../shared/secagg/params.js';
import { addMask, roundingKey } from '../../shared/secagg/prg.js';
import { TRAILER, decodeSum, fractionalBits, quantise } from '../../shared/secagg/quantise.js';
import { runSecAggInMemory } from '../../shared/secagg/driver.js';
import { Harness, randomUpdates } from './harness.js';

const params: SecAggParamsInput = { federationId: 'fed-rounding', round: 4, dimension: 3000, clip: 0.05, maxWeight: 10 };
const updates = randomUpdates(3, 3000, 0.02, 11);
const weights = [3, 7, 10];
const seedOf = (id: string) => new TextEncoder().encode(`rounding seed of ${id} for the test`);

/** One full round whose clients use seeded rounding; returns the outcome and each client's masked vector. */
function seededRound(seeded: boolean) {
  const h = new Harness(updates, weights, params);
  h.ids.forEach((id, i) => {
    const c = new SecAggClientSession({
      clientId: id, identity: h.identities.get(id)!, params, ...(seeded ? { roundingSeed: seedOf(id) } : {}),
    });
    c.submit(updates[i]!, weights[i]!);
    h.clients.set(id, c);
  });
  h.begin();
  const outcome = h.run();
  if (outcome.status !== 'done') throw new Error(`round did not finish: ${JSON.stringify(outcome)}`);
  const masked = new Map(h.toServerLog.filter((m) => m.type === MSG.maskedInput)
    .map((m) => [m.from, (m.payload as { vector: Uint32Array }).vector.slice()]));
  return { mean: outcome.mean, masked, ids: h.ids };
}

describe('secagg: seeded stochastic rounding (simulations)', () => {
  it('the same rounding seed and update give the same quantised values under fresh masks', () => {
    const a = seededRound(true);
    const b = seededRound(true);
    // The masks (keys, self-mask seeds) are fresh: every masked vector differs between the two rounds.
    for (const id of a.ids) {
      expect(a.masked.get(id), id).to.have.length(3000 + TRAILER);
      expect(Buffer.from(a.masked.get(id)!.buffer).equals(Buffer.from(b.masked.get(id)!.buffer)), id).to.equal(false);
    }
    // The quantised values are what quantise() gives with each client's seeded stream, in both rounds:
    // the decoded mean equals the decoding of their sum bit for bit.
    const f = fractionalBits(3, 0.05);
    const sum = new Uint32Array(3000 + TRAILER);
    a.ids.forEach((id, i) => {
      const key = roundingKey(seedOf(id), 'fed-rounding', 4, id);
      const { vector } = quantise(updates[i]!, weights[i]!, 10, 0.05, f, (out) => addMask(out, key, 1));
      for (let j = 0; j < sum.length; j++) sum[j] = sum[j]! + vector[j]!;
    });
    const expected = decodeSum(sum, 3, 10, f).mean;
    expect(Buffer.from(a.mean.buffer).equals(Buffer.from(expected.buffer))).to.equal(true);
    expect(Buffer.from(b.mean.buffer).equals(Buffer.from(expected.buffer))).to.equal(true);
  });

  it('without a seed the rounding comes from the OS and two rounds differ', () => {
    const a = seededRound(false);
    const b = seededRound(false);
    expect(Buffer.from(a.mean.buffer).equals(Buffer.from(b.mean.buffer))).to.equal(false);
  });

  it('streams are bound to the round and the client, and a short seed is refused', () => {
    const s = seedOf('x');
    const k = (round: number, id: string) => Buffer.from(roundingKey(s, 'fed', round, id)).toString('hex');
    expect(new Set([k(1, 'a'), k(2, 'a'), k(1, 'b')]).size).to.equal(3);
    expect(k(1, 'a')).to.equal(k(1, 'a'));
    expect(() => new SecAggClientSession({ clientId: 'a', identity: generateIdentity(), params, roundingSeed: new Uint8Array(8) }))
      .to.throw(SecAggError, /at least 16 bytes/);
  });

  it('runSecAggInMemory threads the seeds and a seeded graph: dropouts give bit-identical means', () => {
    const ids = Array.from({ length: 8 }, (_, i) => `m${i}`);
    const ups = randomUpdates(8, 500, 0.02, 3);
    const run = () => {
      let x = 12345;
      const r = runSecAggInMemory({
        clientIds: ids, updates: ups, weights: ids.map((_, i) => i + 1),
        params: { federationId: 'fed-driver', round: 1, dimension: 500, clip: 0.05, maxWeight: 8, neighbors: 6, threshold: 4 },
        dropAt: { m2: 'after-share-keys', m5: 'before-advertise' },
        roundingSeedOf: seedOf,
        graphRandomIndex: (bound) => { x = (x * 1103515245 + 12345) % 2147483648; return x % bound; },
      });
      if (r.outcome.status !== 'done') throw new Error(`round did not finish: ${JSON.stringify(r.outcome)}`);
      return { mean: Buffer.from(r.outcome.mean.buffer), contributors: [...r.outcome.contributors].sort(), graph: r.server.neighbourGraph };
    };
    const a = run();
    const b = run();
    expect(a.contributors).to.deep.equal(['m0', 'm1', 'm3', 'm4', 'm6', 'm7']);
    expect(a.mean.equals(b.mean)).to.equal(true);
    expect([...a.graph]).to.deep.equal([...b.graph]);
  });

  it('the neighbour graph follows an injected index source and refuses one out of range', () => {
    const ids = Array.from({ length: 12 }, (_, i) => `n${i}`);
    const first = () => 0;
    expect([...buildNeighbourGraph(ids, 4, first)]).to.deep.equal([...buildNeighbourGraph(ids, 4, first)]);
    expect(() => buildNeighbourGraph(ids, 4, (b) => b)).to.throw(RangeError, /outside/);
  });
});
