import { expect } from 'chai';
import { FedProfileError } from '../../shared/errors.js';
import { SecAggError } from '../../shared/secagg/errors.js';
import { MSG } from '../../shared/secagg/messages.js';
import { SecAggClientSession } from '../../shared/secagg/client.js';
import { boxKeyFromShared, boxSeal, generateIdentity, generateX25519, identitySigner, x25519 } from '../../shared/secagg/keys.js';
import { advertiseTranscript, encodeSharePlaintext } from '../../shared/secagg/transcript.js';
import { Harness, compare, randomUpdates, weightedMean } from './harness.js';

const PARAMS = { federationId: 'fed-A', round: 5, dimension: 40, maxWeight: 10 };

function newHarness(n = 8): Harness {
  return new Harness(randomUpdates(n, 40, 0.2, n + 3), Array.from({ length: n }, (_, i) => 1 + (i % 10)), PARAMS);
}

function expectRejected(fn: () => unknown, code: string, reason: string): SecAggError {
  try { fn(); } catch (e) {
    expect(e).to.be.instanceOf(FedProfileError);
    expect((e as FedProfileError).code).to.equal(code);
    expect((e as SecAggError).reason).to.equal(reason);
    return e as SecAggError;
  }
  return expect.fail(`expected a ${code}/${reason} rejection`);
}

/** The round still ends with the right aggregate over the given contributors. */
function expectCorrect(h: Harness, contributors: number): void {
  const o = h.server.outcome();
  if (o.status !== 'done') expect.fail(`round did not finish: ${o.status === 'aborted' ? o.reason : 'pending'}`);
  expect(o.contributors).to.have.length(contributors);
  const { maxErr, allowed } = compare(weightedMean(h.updates, h.weights, h.ids, o.contributors), o.mean, o.metrics.quantisationErrorBound!);
  expect(maxErr).to.be.at.most(allowed);
}

describe('SecAgg+ rejects bad messages without breaking the round', () => {
  it('a replayed message (this stage or an earlier one) is REPLAY and the round still finishes', () => {
    const h = newHarness();
    const seen: Array<{ from: string; type: string; payload: unknown }> = [];
    h.beforeServer = (m) => { seen.push(m); return true; };
    h.begin();
    h.pump();
    expect(h.server.outcome().status).to.equal('done');
    // Replays against a finished session are refused too; now replay mid-round on a fresh one.
    const h2 = newHarness();
    let replayed = false;
    h2.beforeServer = (m) => {
      if (m.type === MSG.maskedInput && !replayed) {
        replayed = true;
        h2.sendToServer(m.from, m.type, m.payload); // first delivery, accepted
        expectRejected(() => h2.server.handle(m.from, m.type, m.payload), 'REPLAY', 'replay');
        const advert = h2.toServerLog.find((x) => x.from === m.from && x.type === MSG.advertise)!;
        expectRejected(() => h2.server.handle(advert.from, advert.type, advert.payload), 'REPLAY', 'replay');
        return false;
      }
      return true;
    };
    h2.begin();
    h2.run();
    expect(replayed).to.equal(true);
    expectCorrect(h2, 8);
    expect(h2.server.outcome().status === 'done' && h2.server.outcome()).to.have.nested.property('metrics.rejectedMessages', 2);
  });

  it('an out-of-order message (masked input during advertise) is PROTOCOL and the sender can still take part', () => {
    const h = newHarness();
    h.begin();
    expect(h.server.stage).to.equal('advertise');
    expectRejected(() => h.server.handle(h.ids[0]!, MSG.maskedInput, { vector: new Uint32Array(42) }), 'PROTOCOL', 'wrong-stage');
    expectRejected(() => h.server.handle(h.ids[0]!, MSG.unmaskShares, { seedShares: [], keyShares: [] }), 'PROTOCOL', 'wrong-stage');
    h.run();
    expectCorrect(h, 8);
  });

  it('a client refuses setup twice and shares before keys', () => {
    const h = newHarness(5);
    h.begin();
    h.pump();
    const c = h.clients.get(h.ids[0]!)!;
    const firstSetup = h.toClientLog.find((m) => m.to === h.ids[0] && m.type === MSG.setup)!;
    expectRejected(() => c.handle(MSG.setup, firstSetup.payload), 'REPLAY', 'replay');
    const fresh = new SecAggClientSession({ clientId: 'x', identity: generateIdentity(), params: PARAMS });
    expectRejected(() => fresh.handle(MSG.shares, { shares: [] }), 'PROTOCOL', 'wrong-stage');
    expectRejected(() => fresh.handle(MSG.unmask, { survivors: [], dropped: [] }), 'PROTOCOL', 'wrong-stage');
  });

  it('a masked vector of the wrong length is BAD_INPUT and the correct one is then accepted', () => {
    const h = newHarness();
    let tried = 0;
    h.beforeServer = (m) => {
      if (m.type === MSG.maskedInput && tried++ === 0) {
        const v = (m.payload as { vector: Uint32Array }).vector;
        expectRejected(() => h.server.handle(m.from, m.type, { vector: v.subarray(0, v.length - 1) }), 'BAD_INPUT', 'wrong-length');
        expectRejected(() => h.server.handle(m.from, m.type, { vector: [1, 2, 3] }), 'BAD_INPUT', 'malformed');
      }
      return true;
    };
    h.begin();
    h.run();
    expectCorrect(h, 8);
  });

  it('malformed payloads and unknown senders are refused', () => {
    const h = newHarness(5);
    h.begin();
    expectRejected(() => h.server.handle(h.ids[0]!, MSG.advertise, { cPk: 'nope' }), 'BAD_INPUT', 'malformed');
    expectRejected(() => h.server.handle(h.ids[0]!, MSG.advertise, null), 'BAD_INPUT', 'malformed');
    expectRejected(() => h.server.handle('mallory', MSG.advertise, {}), 'PROTOCOL', 'unknown-sender');
    expectRejected(() => h.server.handle(h.ids[0]!, 'secagg/bogus', {}), 'BAD_INPUT', 'malformed');
    expectRejected(() => h.clients.get(h.ids[1]!)!.handle(MSG.setup, { participants: 'x' }), 'BAD_INPUT', 'malformed');
    h.run();
    expectCorrect(h, 5);
  });

  it('a bad signature excludes that client; the round finishes without it', () => {
    const h = newHarness(9);
    const liar = h.ids[4]!;
    h.beforeServer = (m) => {
      if (m.type === MSG.advertise && m.from === liar) {
        const p = m.payload as { cPk: Uint8Array; sPk: Uint8Array; signature: Uint8Array };
        const forged = { ...p, sPk: new Uint8Array(p.sPk).fill(7) }; // keys swapped in transit
        expectRejected(() => h.server.handle(m.from, m.type, forged), 'BAD_INPUT', 'bad-signature');
        // Once excluded it cannot come back, even with the genuine message.
        expectRejected(() => h.server.handle(m.from, m.type, p), 'PROTOCOL', 'wrong-stage');
        return false;
      }
      return true;
    };
    h.begin();
    h.run();
    expectCorrect(h, 8);
    const o = h.server.outcome();
    expect(o.status === 'done' && o.contributors).to.not.include(liar);
    expect(o.status === 'done' && o.metrics.badSignatures).to.equal(1);
  });

  it('a client drops a neighbour whose relayed advertisement does not verify', () => {
    const h = newHarness(9);
    const victim = h.ids[0]!;
    let tampered = '';
    h.beforeClient = (m) => {
      if (m.to === victim && m.type === MSG.keys && !tampered) {
        const p = m.payload as { peers: Array<{ id: string; cPk: Uint8Array; sPk: Uint8Array; signature: Uint8Array }> };
        tampered = p.peers[0]!.id;
        const peers = p.peers.map((x, i) => (i === 0 ? { ...x, cPk: new Uint8Array(32).fill(9) } : x));
        h.sendToClient({ ...m, payload: { peers } });
        return false;
      }
      return true;
    };
    h.begin();
    h.run();
    expect(h.clients.get(victim)!.rejectedPeers).to.deep.equal([tampered]);
    // The pair (victim, tampered) never shared, so neither masks with the other, and the sum is still exact.
    expectCorrect(h, 9);
  });

  it('a share addressed to someone else is rejected by the recipient; the genuine relay is then accepted', () => {
    const h = newHarness(8);
    const [a, b] = [h.ids[0]!, h.ids[1]!];
    let injected = false;
    h.beforeClient = (m) => {
      if (m.type === MSG.shares && m.to === b && !injected) {
        injected = true;
        // Take the share that was sealed for `a` and relay it to `b`: it is addressed to someone else.
        const forA = h.toClientLog.find((x) => x.type === MSG.shares && x.to === a);
        const shares = (m.payload as { shares: Array<{ from: string; nonce: Uint8Array; ciphertext: Uint8Array }> }).shares;
        const swapped = forA
          ? (forA.payload as { shares: typeof shares }).shares.filter((s) => shares.some((t) => t.from === s.from))
          : [];
        if (swapped.length > 0) {
          const bad = shares.map((s) => swapped.find((x) => x.from === s.from) ?? s);
          const err = expectRejected(() => h.clients.get(b)!.handle(m.type, { shares: bad }), 'BAD_INPUT', 'bad-ciphertext');
          expect(err.message).to.match(/does not decrypt/);
        }
        expect(h.clients.get(b)!.stage).to.equal('awaiting-shares');
      }
      return true;
    };
    h.begin();
    h.run();
    expect(injected).to.equal(true);
    expectCorrect(h, 8);
  });

  it('a share whose sealed header names another recipient is rejected as misaddressed', () => {
    // A dishonest neighbour `a` seals for b a share pair whose header says it is for c.
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const kp = new Map(ids.map((id) => [id, generateIdentity()]));
    const params = { ...PARAMS, dimension: 4 };
    const b = new SecAggClientSession({ clientId: 'b', identity: kp.get('b')!, params });
    const neighbours = ids.filter((x) => x !== 'b').map((x) => ({ id: x, identityKey: kp.get(x)!.publicKey }));
    const bAdvert = b.handle(MSG.setup, { version: 2, participants: 5, threshold: 3, neighbours })[0]!.payload as { cPk: Uint8Array; sPk: Uint8Array };
    const others = new Map(['a', 'c', 'd', 'e'].map((id) => {
      const c = generateX25519(); const s = generateX25519();
      const signature = identitySigner(kp.get(id)!)(advertiseTranscript(params.federationId, params.round, id, c.publicKey, s.publicKey));
      return [id, { c, s, advert: { id, cPk: c.publicKey, sPk: s.publicKey, signature } }];
    }));
    b.handle(MSG.keys, { peers: [...others.values()].map((o) => o.advert) });
    const seal = (from: string, to: string): { from: string; nonce: Uint8Array; ciphertext: Uint8Array } => {
      const key = boxKeyFromShared(x25519(others.get(from)!.c.privateKey, bAdvert.cPk)!);
      const plain = encodeSharePlaintext({ federationId: params.federationId, round: params.round, from, to,
        seedShare: new Uint8Array(33).fill(1), keyShare: new Uint8Array(33).fill(2) });
      return { from, ...boxSeal(plain, key) };
    };
    // One bad share excludes its sender for that pair only: b goes on with the other three (t = 3).
    const shares = ['a', 'c', 'd', 'e'].map((from) => seal(from, from === 'a' ? 'c' : 'b'));
    const out = b.handle(MSG.shares, { shares });
    expect(out).to.deep.equal([{ to: 'server', type: MSG.shareCheck, payload: { accepted: ['c', 'd', 'e'] } }]);
    expect(b.rejectedShares).to.have.length(1);
    expect(b.rejectedShares[0]!.from).to.equal('a');
    expect(b.rejectedShares[0]!.reason).to.match(/addressed to c/);
    // The server cannot then ask b to mask with a, whose share b does not hold.
    expectRejected(() => b.handle(MSG.maskRequest, { partners: ['a', 'c', 'd'] }), 'PROTOCOL', 'bad-request');
    b.submit(new Float32Array(4), 1);
    const masked = b.handle(MSG.maskRequest, { partners: ['c', 'd', 'e'] });
    expect(masked[0]!.type).to.equal(MSG.maskedInput);
  });

  it('with fewer than t usable shares a client sends no masked input (and a corrected relay is still accepted)', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const kp = new Map(ids.map((id) => [id, generateIdentity()]));
    const params = { ...PARAMS, dimension: 4 };
    const b = new SecAggClientSession({ clientId: 'b', identity: kp.get('b')!, params });
    const neighbours = ids.filter((x) => x !== 'b').map((x) => ({ id: x, identityKey: kp.get(x)!.publicKey }));
    const bAdvert = b.handle(MSG.setup, { version: 2, participants: 5, threshold: 3, neighbours })[0]!.payload as { cPk: Uint8Array };
    const others = new Map(['a', 'c', 'd', 'e'].map((id) => {
      const c = generateX25519(); const s = generateX25519();
      const signature = identitySigner(kp.get(id)!)(advertiseTranscript(params.federationId, params.round, id, c.publicKey, s.publicKey));
      return [id, { c, advert: { id, cPk: c.publicKey, sPk: s.publicKey, signature } }];
    }));
    b.handle(MSG.keys, { peers: [...others.values()].map((o) => o.advert) });
    const seal = (from: string): { from: string; nonce: Uint8Array; ciphertext: Uint8Array } => {
      const key = boxKeyFromShared(x25519(others.get(from)!.c.privateKey, bAdvert.cPk)!);
      const plain = encodeSharePlaintext({ federationId: params.federationId, round: params.round, from, to: 'b',
        seedShare: new Uint8Array(33).fill(1), keyShare: new Uint8Array(33).fill(2) });
      return { from, ...boxSeal(plain, key) };
    };
    b.submit(new Float32Array(4), 1);
    expectRejected(() => b.handle(MSG.shares, { shares: [seal('a'), seal('c')] }), 'PROTOCOL', 'bad-request');
    expectRejected(() => b.handle(MSG.shares, { shares: [] }), 'PROTOCOL', 'bad-request');
    expect(b.stage).to.equal('awaiting-shares');
    expect(b.handle(MSG.shares, { shares: ['a', 'c', 'd'].map(seal) })[0]!.type).to.equal(MSG.shareCheck);
  });

  it('with an enrolment directory, a client ignores identity keys substituted by the server', () => {
    const ids = ['a', 'b', 'c', 'd'];
    const kp = new Map(ids.map((id) => [id, generateIdentity()]));
    const mallory = generateIdentity();
    const params = { ...PARAMS, dimension: 4 };
    const a = new SecAggClientSession({ clientId: 'a', identity: kp.get('a')!, params, identityOf: (id) => kp.get(id)?.publicKey });
    // The server claims b's identity key is mallory's and relays an advertisement mallory signed as b.
    const neighbours = ['b', 'c', 'd'].map((id) => ({ id, identityKey: id === 'b' ? mallory.publicKey : kp.get(id)!.publicKey }));
    a.handle(MSG.setup, { version: 2, participants: 4, threshold: 2, neighbours });
    const peers = ['b', 'c', 'd'].map((id) => {
      const c = generateX25519(); const sk = generateX25519();
      const signer = identitySigner(id === 'b' ? mallory : kp.get(id)!);
      return { id, cPk: c.publicKey, sPk: sk.publicKey, signature: signer(advertiseTranscript(params.federationId, params.round, id, c.publicKey, sk.publicKey)) };
    });
    const out = a.handle(MSG.keys, { peers });
    expect(a.rejectedPeers).to.deep.equal(['b']);
    expect((out[0]!.payload as { shares: Array<{ to: string }> }).shares.map((x) => x.to)).to.deep.equal(['c', 'd']);
  });

  it('a client reveals as the signed member set implies, needs t neighbour signatures over it, and answers once', () => {
    const h = newHarness(6);
    let checked = false;
    h.beforeClient = (m) => {
      if (m.type === MSG.unmask && !checked) {
        checked = true;
        const p = m.payload as { signatures: Array<{ id: string; signature: Uint8Array }> };
        const c = h.clients.get(m.to)!;
        // Too few signatures, a forged one, or one by a non-neighbour: nothing is revealed.
        expectRejected(() => c.handle(MSG.unmask, { signatures: p.signatures.slice(0, 2) }), 'PROTOCOL', 'bad-request');
        const forged = p.signatures.map((s, i) => (i === 0 ? { ...s, signature: new Uint8Array(64).fill(3) } : s));
        expectRejected(() => c.handle(MSG.unmask, { signatures: forged.slice(0, 3) }), 'PROTOCOL', 'bad-request');
        expectRejected(() => c.handle(MSG.unmask, { signatures: [...p.signatures.slice(0, 2), { id: 'stranger', signature: p.signatures[3]!.signature }] }), 'PROTOCOL', 'bad-request');
        expect(c.stage).to.equal('awaiting-unmask');
        h.sendToClient(m);
        expectRejected(() => c.handle(MSG.unmask, m.payload), 'REPLAY', 'replay');
        return false;
      }
      return true;
    };
    h.begin();
    h.run();
    expect(checked).to.equal(true);
    expectCorrect(h, 6);
  });

  it('the server refuses unmask answers that reveal more than it asked for', () => {
    const h = newHarness(6);
    let checked = false;
    h.beforeServer = (m) => {
      if (m.type === MSG.unmaskShares && !checked) {
        checked = true;
        const p = m.payload as { seedShares: Array<{ of: string; share: Uint8Array }>; keyShares: Array<{ of: string; share: Uint8Array }> };
        const extra = { seedShares: p.seedShares, keyShares: [{ of: p.seedShares[0]!.of, share: p.seedShares[0]!.share }] };
        expectRejected(() => h.server.handle(m.from, m.type, extra), 'PROTOCOL', 'bad-request');
      }
      return true;
    };
    h.begin();
    h.run();
    expect(checked).to.equal(true);
    expectCorrect(h, 6);
  });

  it('a client refuses a threshold that is not above half its neighbours', () => {
    const c = new SecAggClientSession({ clientId: 'a', identity: generateIdentity(), params: PARAMS });
    const neighbours = ['b', 'c', 'd', 'e'].map((id) => ({ id, identityKey: generateIdentity().publicKey }));
    expectRejected(() => c.handle(MSG.setup, { version: 2, participants: 5, threshold: 2, neighbours }), 'PROTOCOL', 'bad-request');
    expect(c.handle(MSG.setup, { version: 2, participants: 5, threshold: 3, neighbours })).to.have.length(1);
  });

  it('submit rejects wrong lengths, non-finite values and bad weights with BAD_INPUT', () => {
    const c = new SecAggClientSession({ clientId: 'a', identity: generateIdentity(), params: PARAMS });
    expectRejected(() => c.submit(new Float32Array(39), 1), 'BAD_INPUT', 'wrong-length');
    const nan = new Float32Array(40); nan[7] = NaN;
    expect(expectRejected(() => c.submit(nan, 1), 'BAD_INPUT', 'bad-update').message).to.match(/index 7/);
    expectRejected(() => c.submit(new Float32Array(40), 0), 'BAD_INPUT', 'bad-update');
    expectRejected(() => c.submit(new Float32Array(40), 1.5), 'BAD_INPUT', 'bad-update');
    expect(c.submit(new Float32Array(40), 3)).to.deep.equal([]);
    expectRejected(() => c.submit(new Float32Array(40), 3), 'REPLAY', 'replay');
  });

  it('an aborted round tells the clients why', () => {
    const h = new Harness(randomUpdates(4, 10, 0.1), [1, 1, 1, 1], { ...PARAMS, dimension: 10 });
    h.beforeServer = (m) => {
      if (m.type === MSG.shareKeys && m.from !== h.ids[0]) { h.drop(m.from); return false; }
      return true;
    };
    h.begin();
    const o = h.run();
    expect(o.status).to.equal('aborted');
    expect(h.clients.get(h.ids[0]!)!.stage).to.equal('aborted');
    expect(h.clients.get(h.ids[0]!)!.abortReason).to.match(/secure aggregation aborted/);
  });
});
