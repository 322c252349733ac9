import { expect } from 'chai';
import type { Outbound } from '../../shared/aggregation/seam.js';
import { SecAggClientSession } from '../../shared/secagg/client.js';
import { SecAggError } from '../../shared/secagg/errors.js';
import { generateIdentity } from '../../shared/secagg/keys.js';
import { MSG } from '../../shared/secagg/messages.js';
import { SecAggServerSession } from '../../shared/secagg/server.js';
import { combineShares } from '../../shared/secagg/shamir.js';
import { Harness, compare, randomUpdates, weightedMean } from './harness.js';

/**
 * The attacks of a security review, each against the pure state machines: a malicious coordinator (the
 * test plays it, delivering, forging or withholding messages) and misbehaving clients.
 */

type Params = ConstructorParameters<typeof Harness>[2];
const base = (dimension: number, extra: Partial<Params> = {}): Params => ({ federationId: 'fed-S', round: 9, dimension, maxWeight: 10, ...extra });

function harness(n: number, params: Params, seed = 5): Harness {
  return new Harness(randomUpdates(n, params.dimension, 0.3, seed), Array.from({ length: n }, (_, i) => 1 + (i % 10)), params);
}

function expectExact(h: Harness, contributors: number): void {
  const o = h.server.outcome();
  if (o.status !== 'done') expect.fail(`round did not finish: ${o.status === 'aborted' ? o.reason : 'pending'}`);
  expect(o.contributors).to.have.length(contributors);
  const { maxErr, allowed } = compare(weightedMean(h.updates, h.weights, h.ids, o.contributors), o.mean, o.metrics.quantisationErrorBound!);
  expect(maxErr).to.be.at.most(allowed);
}

function refusal(fn: () => unknown): SecAggError {
  try { fn(); } catch (e) { expect(e).to.be.instanceOf(SecAggError); return e as SecAggError; }
  return expect.fail('expected a refusal');
}

const maskedFrom = (h: Harness, id: string): boolean => h.toServerLog.some((m) => m.from === id && m.type === MSG.maskedInput);

describe('SecAgg+ against a malicious coordinator', () => {
  for (const [n, k] of [[6, undefined], [40, 10]] as const) {
    it(`empty relay (n = ${n}${k ? `, k = ${k}` : ''}): the target never sends a vector masked only by its self mask`, () => {
      const h = harness(n, base(12, k ? { neighbors: k } : {}));
      const target = h.ids[2]!;
      let relayed = false;
      h.beforeClient = (m) => {
        if (m.to !== target || m.type !== MSG.shares || relayed) return true;
        relayed = true;
        h.sendToClient({ ...m, payload: { shares: [] } });
        return false;
      };
      h.begin();
      h.pump();
      expect(maskedFrom(h, target)).to.equal(false);
      const err = h.errors.find((e) => e.at === `${target}<-${MSG.shares}`)?.error as SecAggError;
      expect(err.message).to.match(/only 0 usable shares .* at least \d+ are needed before it masks/);
      expect(h.clients.get(target)!.stage).to.equal('awaiting-shares');
    });
  }

  /**
   * The attack of the review: everything honest up to masked input, then the coordinator tells the target
   * that all its neighbours dropped and tells each neighbour that the target survived and the others
   * dropped. It forwards to every client every signature it collected and then tries to rebuild the
   * target's self-mask seed and the mask keys that hide its update.
   */
  for (const [n, k] of [[5, undefined], [30, 8]] as const) {
    it(`inconsistent dropout claims (n = ${n}${k ? `, k = ${k}` : ''}) reveal neither the seed and the keys together`, () => {
      const params = base(10, k ? { neighbors: k } : {});
      const h = harness(n, params, 11);
      const withheld: Outbound[] = [];
      h.beforeClient = (m) => { if (m.type === MSG.consistency) { withheld.push(m); return false; } return true; };
      h.begin();
      h.pump();
      expect(withheld).to.have.length(n);
      const graph = h.server.neighbourGraph;
      const { threshold: t } = h.server.graphParams;
      const target = h.ids[0]!;
      const nbs = new Set(graph.get(target)!);
      const sorted = (xs: Iterable<string>): string[] => [...xs].sort();
      const others = h.ids.filter((x) => x !== target && !nbs.has(x));
      const story = new Map<string, string[]>();
      story.set(target, sorted([target, ...others]));
      for (const v of nbs) story.set(v, sorted([target, v, ...others]));
      for (const x of others) story.set(x, sorted(h.ids));

      const signatures = new Map<string, Uint8Array>();
      for (const [u, members] of story) {
        try {
          const out = h.clients.get(u)!.handle(MSG.consistency, { members });
          signatures.set(u, (out[0]!.payload as { signature: Uint8Array }).signature);
        } catch { /* a client that refuses to sign just stays out */ }
      }
      const seedShares = new Map<string, Uint8Array[]>();
      const keyShares = new Map<string, Uint8Array[]>();
      let refused = 0;
      for (const u of story.keys()) {
        const all = [...signatures].map(([id, signature]) => ({ id, signature }));
        try {
          const out = h.clients.get(u)!.handle(MSG.unmask, { signatures: all });
          const p = out[0]!.payload as { seedShares: Array<{ of: string; share: Uint8Array }>; keyShares: Array<{ of: string; share: Uint8Array }> };
          for (const s of p.seedShares) seedShares.set(s.of, [...(seedShares.get(s.of) ?? []), s.share]);
          for (const s of p.keyShares) keyShares.set(s.of, [...(keyShares.get(s.of) ?? []), s.share]);
        } catch { refused++; }
      }
      expect(refused).to.be.greaterThan(0);
      const has = (m: Map<string, Uint8Array[]>, v: string): boolean => (m.get(v)?.length ?? 0) >= t && combineShares(m.get(v)!.slice(0, t)) !== undefined;
      const seed = has(seedShares, target);
      const keys = has(keyShares, target) || [...nbs].every((v) => has(keyShares, v));
      expect(seed && keys, 'the coordinator could unmask the target alone').to.equal(false);
      // Neither kind of share was revealed for the target's neighbourhood as the story needed.
      expect([...nbs].filter((v) => has(keyShares, v))).to.have.length.below(nbs.size);

      // Control: a consistent story unmasks as designed (every member's seed, nobody's key).
      const h2 = harness(n, params, 11);
      h2.begin();
      h2.run();
      expectExact(h2, n);
    });
  }

  it('a client signs one member set only and refuses sets that omit it or are too small', () => {
    const h = harness(6, base(8));
    const withheld: Outbound[] = [];
    h.beforeClient = (m) => { if (m.type === MSG.consistency) { withheld.push(m); return false; } return true; };
    h.begin();
    h.pump();
    const c = h.clients.get(h.ids[0]!)!;
    const members = [...h.ids].sort();
    expect(refusal(() => c.handle(MSG.consistency, { members: members.filter((x) => x !== h.ids[0]) })).message).to.match(/omit/);
    expect(refusal(() => c.handle(MSG.consistency, { members: [h.ids[0]!, h.ids[1]!] })).message).to.match(/at least/);
    expect(refusal(() => c.handle(MSG.consistency, { members: [...members].reverse() })).message).to.match(/sorted/);
    c.handle(MSG.consistency, { members });
    expect(refusal(() => c.handle(MSG.consistency, { members: members.slice(0, 5).concat(h.ids[0]!).sort() })).reason).to.equal('replay');
  });

  it('the server asks nobody to unmask when fewer than t signed the member set, and aborts with a reason', () => {
    const h = harness(6, base(8));
    h.beforeServer = (m) => {
      if (m.type === MSG.consistencySig && m.from !== h.ids[0] && m.from !== h.ids[1]) { h.drop(m.from); return false; }
      return true;
    };
    h.begin();
    const o = h.run();
    expect(o.status === 'aborted' && o.reason).to.match(/after the consistency check/);
    expect(h.toClientLog.filter((m) => m.type === MSG.unmask)).to.have.length(0);
  });

  it('a client refuses a setup weaker than its configured floor (10 / 8 configured, 2 / 2 offered)', () => {
    const kp = generateIdentity();
    const nb = (ids: string[]): Array<{ id: string; identityKey: Uint8Array }> => ids.map((id) => ({ id, identityKey: generateIdentity().publicKey }));
    const strict = new SecAggClientSession({ clientId: 'a', identity: kp, params: base(4, { neighbors: 10, threshold: 8 }) });
    expect(refusal(() => strict.handle(MSG.setup, { version: 2, participants: 50, threshold: 2, neighbours: nb(['b', 'c']) })).message)
      .to.match(/weaker setup than configured: 2 neighbours \/ threshold 2, while this client requires at least 10 \/ 8/);
    // A claimed tiny cohort cannot lower the configured threshold either.
    refusal(() => strict.handle(MSG.setup, { version: 2, participants: 3, threshold: 2, neighbours: nb(['b', 'c']) }));
    // Without k and t configured the floor is derived from n: 36 / 19 for n = 500.
    const derived = new SecAggClientSession({ clientId: 'a', identity: kp, params: base(4) });
    expect(refusal(() => derived.handle(MSG.setup, { version: 2, participants: 500, threshold: 3, neighbours: nb(['b', 'c', 'd', 'e']) })).message)
      .to.match(/at least 36 \/ 19/);
    // A local floor that params from the server cannot lower.
    const local = new SecAggClientSession({ clientId: 'a', identity: kp, params: base(4, { neighbors: 4, threshold: 3 }), minThreshold: 6 });
    refusal(() => local.handle(MSG.setup, { version: 2, participants: 50, threshold: 3, neighbours: nb(['b', 'c', 'd', 'e']) }));
    // An older message flow without the consistency stage is refused.
    refusal(() => derived.handle(MSG.setup, { version: 1, participants: 5, threshold: 3, neighbours: nb(['b', 'c', 'd', 'e']) }));
    // And a setup at the floor is accepted.
    expect(strict.handle(MSG.setup, { version: 2, participants: 50, threshold: 8, neighbours: nb('bcdefghijk'.split('')) })).to.have.length(1);
  });
});

describe('SecAgg+ against misbehaving clients', () => {
  const corruptions: Array<[string, (ct: Uint8Array, all: Array<{ to: string; nonce: Uint8Array; ciphertext: Uint8Array }>, i: number) => { nonce: Uint8Array; ciphertext: Uint8Array }]> = [
    ['garbage', (ct) => ({ nonce: new Uint8Array(24).fill(1), ciphertext: new Uint8Array(ct.length).fill(7) })],
    ['misaddressed (shares swapped between recipients)', (_ct, all, i) => all[(i + 1) % all.length]!],
  ];
  for (const [label, corrupt] of corruptions) {
    for (const [n, k] of [[8, undefined], [60, 10]] as const) {
      it(`${label} shares from one client (n = ${n}${k ? `, k = ${k}` : ''}) exclude only that client; the others finish exactly`, () => {
        const h = harness(n, base(16, k ? { neighbors: k } : {}), n);
        const bad = h.ids[3]!;
        let corrupted = false;
        h.beforeServer = (m) => {
          if (m.from !== bad || m.type !== MSG.shareKeys || corrupted) return true;
          corrupted = true;
          const shares = (m.payload as { shares: Array<{ to: string; nonce: Uint8Array; ciphertext: Uint8Array }> }).shares;
          h.sendToServer(m.from, m.type, { shares: shares.map((s, i) => ({ ...corrupt(s.ciphertext, shares, i), to: s.to })) });
          return false;
        };
        h.begin();
        h.run();
        expectExact(h, n - 1);
        const o = h.server.outcome();
        expect(o.status === 'done' && o.contributors).to.not.include(bad);
        expect(o.status === 'done' && o.metrics.rejectedSharePairs).to.equal(h.server.graphParams.neighbors);
        for (const id of h.ids) if (id !== bad) expect(h.clients.get(id)!.stage, id).to.equal('done');
      });
    }
  }

  const tamper = (h: Harness, who: string, f: (v: Uint32Array) => void): void => {
    h.beforeServer = (m) => {
      if (m.from === who && m.type === MSG.maskedInput) f((m.payload as { vector: Uint32Array }).vector);
      return true;
    };
  };

  it('a coordinate pushed by 2^30 makes the round abort instead of committing a mean outside [-clip, clip]', () => {
    const h = harness(8, base(16));
    tamper(h, h.ids[1]!, (v) => { v[3] = v[3]! + 2 ** 30; });
    h.begin();
    const o = h.run();
    expect(o.status).to.equal('aborted');
    expect(o.status === 'aborted' && o.reason).to.match(/leaves \[-clip, clip\] at coordinate 3 .*previous model stays/);
  });

  it('a forged weight element (full-weight values, weight claimed lower) is caught by the range check', () => {
    const n = 8, m = 16;
    const updates = Array.from({ length: n }, () => new Float32Array(m).fill(1));
    const h = new Harness(updates, Array(n).fill(10), base(m));
    tamper(h, h.ids[2]!, (v) => { v[m] = v[m]! - 9; });
    h.begin();
    const o = h.run();
    expect(o.status === 'aborted' && o.reason).to.match(/leaves \[-clip, clip\]/);
    // Forging the weight sum out of [contributors, contributors × maxWeight] is caught as such.
    const h2 = new Harness(updates, Array(n).fill(10), base(m));
    tamper(h2, h2.ids[2]!, (v) => { v[m] = v[m]! + 1000; });
    h2.begin();
    const o2 = h2.run();
    expect(o2.status === 'aborted' && o2.reason).to.match(/impossible weight sum \(1080 for 8 contributors/);
  });

  it('an honest round at the clip boundary still passes the range check', () => {
    const n = 6, m = 8;
    const updates = Array.from({ length: n }, (_, i) => new Float32Array(m).fill(i % 2 ? 1 : -1));
    const h = new Harness(updates, Array(n).fill(10), base(m));
    h.begin();
    h.run();
    expectExact(h, n);
  });
});

describe('SecAgg+ enrolment and secrets', () => {
  it('identities as a plain object: a participant named like a prototype member is not enrolled', () => {
    const ids = ['a', 'b', 'c', 'd', 'toString', 'constructor'];
    const kp = new Map(ids.map((id) => [id, generateIdentity()]));
    const identities: Record<string, Uint8Array> = {};
    for (const id of ['a', 'b', 'c', 'd']) identities[id] = kp.get(id)!.publicKey;
    const server = new SecAggServerSession({ params: base(4), identities });
    const out = server.begin(ids);
    expect(out.map((m) => m.to).sort()).to.deep.equal(['a', 'b', 'c', 'd']);
    for (const m of out) {
      const p = m.payload as { participants: number; neighbours: Array<{ id: string }> };
      expect(p.participants).to.equal(4);
      expect(p.neighbours.map((x) => x.id)).to.not.include.members(['toString', 'constructor']);
    }
  });

  it('a client zero-fills its seed, keys, pair secrets and held shares when the round ends', () => {
    const h = harness(6, base(8));
    const c = h.clients.get(h.ids[0]!)! as unknown as {
      seed?: Uint8Array; sKeys?: { secretKey: Uint8Array }; cKeys?: { secretKey: Uint8Array };
      peers: Map<string, { boxKey: Uint8Array; maskSecret: Uint8Array }>; held: Map<string, { seedShare: Uint8Array; keyShare: Uint8Array }>;
    };
    let secrets: Uint8Array[] = [];
    h.beforeServer = (m) => {
      if (m.from === h.ids[0] && m.type === MSG.maskedInput) {
        secrets = [c.seed!, c.sKeys!.secretKey, c.cKeys!.secretKey, ...[...c.peers.values()].flatMap((p) => [p.boxKey, p.maskSecret]),
          ...[...c.held.values()].flatMap((x) => [x.seedShare, x.keyShare])];
      }
      return true;
    };
    h.begin();
    h.run();
    expectExact(h, 6);
    expect(secrets.length).to.equal(3 + 4 * 5);
    expect(secrets.every((s) => s.length > 0 && s.every((b) => b === 0)), 'every secret is zero-filled').to.equal(true);
    expect(c.seed).to.equal(undefined);
    expect(c.held.size).to.equal(0);
  });

  it('an aborted round zero-fills as well, and dispose() does it for a round that just stops', () => {
    const h = harness(5, base(8));
    h.beforeClient = (m) => m.type !== MSG.consistency;
    h.begin();
    h.pump();
    const c = h.clients.get(h.ids[1]!)! as unknown as { seed?: Uint8Array; dispose(): void; stage: string };
    const seed = c.seed!;
    expect(seed.some((b) => b !== 0)).to.equal(true);
    c.dispose();
    expect(seed.every((b) => b === 0)).to.equal(true);
    expect(c.stage).to.equal('aborted');
  });
});
