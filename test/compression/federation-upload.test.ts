import { expect } from 'chai';
import type { ServerMessage } from '../../shared/protocol/messages.js';
import { decodeVector, encodeVector } from '../../shared/weights/codec.js';
import { decodeTopK, encodeTopK } from '../../shared/compression/topk.js';
import { LeastSquaresTrainer, TINY_MODEL, TINY_DIM } from '../runtime/fixtures/least-squares-trainer.js';
import {
  api, createFederation, issueToken, newClient, useTestCoordinator, rawSocket, waitFor, weightsOf,
} from '../runtime/fixtures/harness.js';

const DIM = TINY_DIM;
const FIT = { localEpochs: 2, learningRate: 0.05 };

describe('upload compression in a real federation (loopback sockets)', function () {
  this.timeout(60_000);
  const env = useTestCoordinator('upload');

  const strategy = { clientsPerRound: 2, minFitClients: 2, overSelection: 1, localEpochs: FIT.localEpochs, learningRate: FIT.learningRate, optimizer: 'sgd', evaluateEvery: 0 };

  it('q8 updates: the round commits the mean of exactly what the clients encoded, and counts the bytes that arrived', async () => {
    const fed = await createFederation(env.coord.url, {
      name: 'q8', model: TINY_MODEL, rounds: 1, deadlines: { trainMs: 5000 }, strategy, compression: { upload: { codec: 'q8' } },
    });
    const trainers = [0, 1].map((i) => new LeastSquaresTrainer(DIM, 9, `q8-${i}`));
    for (const [i, t] of trainers.entries()) {
      const c = newClient(env.coord.url, await issueToken(env.coord.url, fed), t, `${env.dir}/c${i}`);
      env.clients.push(c);
      await c.start();
    }
    const before = await weightsOf(env.coord.url, fed, 0);
    await api(env.coord.url, 'POST', `/federations/${fed}/start`);
    const round = await waitFor('round 1', async () => {
      const r = await api(env.coord.url, 'GET', `/federations/${fed}/rounds/1`);
      return r.json?.status === 'completed' ? r.json : undefined;
    });
    const encoded = trainers.map((t) => encodeVector(t.expectedDelta(before, FIT), 'q8'));
    expect(round.metrics['agg.uploadBytes']).to.equal(encoded[0]!.byteLength + encoded[1]!.byteLength);
    expect(round.metrics['agg.uploadBytesPerUpdate']).to.be.lessThan(DIM * 4 / 3);
    const after = await weightsOf(env.coord.url, fed, 1);
    const [a, b] = encoded.map((e) => decodeVector(e));
    let quantised = 0;
    for (let i = 0; i < DIM; i++) {
      expect(after[i]! - before[i]!).to.be.closeTo((a![i]! + b![i]!) / 2, 1e-6);
      const exact = (trainers[0]!.expectedDelta(before, FIT)[i]! + trainers[1]!.expectedDelta(before, FIT)[i]!) / 2;
      quantised = Math.max(quantised, Math.abs(after[i]! - before[i]! - exact));
    }
    // What was sent is q8, not float32: the committed step differs from the exact mean, within a q8 step.
    expect(quantised).to.be.greaterThan(0);
  });

  it('top-k with error feedback: round 2 sends the largest values of its update plus what round 1 left out', async () => {
    const fed = await createFederation(env.coord.url, {
      name: 'topk', model: TINY_MODEL, rounds: 2, deadlines: { trainMs: 5000 },
      strategy: { ...strategy, clientsPerRound: 1, minFitClients: 1 }, compression: { upload: { codec: 'topk', topkFraction: 0.05 } },
    });
    const t = new LeastSquaresTrainer(DIM, 9, 'ef');
    const c = newClient(env.coord.url, await issueToken(env.coord.url, fed), t, `${env.dir}/ef`);
    env.clients.push(c);
    await c.start();
    const w0 = await weightsOf(env.coord.url, fed, 0);
    await api(env.coord.url, 'POST', `/federations/${fed}/start`);
    await waitFor('round 2', async () => (await api(env.coord.url, 'GET', `/federations/${fed}/rounds/2`)).json?.status === 'completed');
    const [w1, w2] = [await weightsOf(env.coord.url, fed, 1), await weightsOf(env.coord.url, fed, 2)];
    const k = Math.ceil(0.05 * DIM);
    const sent1 = decodeTopK(encodeTopK(t.expectedDelta(w0, FIT), k));
    const d1 = t.expectedDelta(w0, FIT);
    const target2 = t.expectedDelta(w1, FIT).map((v, i) => v + d1[i]! - sent1[i]!);
    const sent2 = decodeTopK(encodeTopK(target2, k));
    let moved = 0;
    for (let i = 0; i < DIM; i++) {
      expect(w1[i]! - w0[i]!).to.be.closeTo(sent1[i]!, 1e-6);
      expect(w2[i]! - w1[i]!).to.be.closeTo(sent2[i]!, 1e-6);
      if (sent2[i] !== 0) moved++;
    }
    expect(moved).to.equal(k);
  });

  it('f16 download: the client trains from the decoded model (delta against it), caches it checked against the decoded hash', async () => {
    const fed = await createFederation(env.coord.url, {
      name: 'f16', model: TINY_MODEL, rounds: 1, deadlines: { trainMs: 5000 },
      strategy: { ...strategy, clientsPerRound: 1, minFitClients: 1 }, compression: { download: 'f16' },
    });
    const t = new LeastSquaresTrainer(DIM, 9, 'f16');
    const c = newClient(env.coord.url, await issueToken(env.coord.url, fed), t, `${env.dir}/f16`);
    env.clients.push(c);
    await c.start();
    const w0 = await weightsOf(env.coord.url, fed, 0);
    const hash0 = (await api(env.coord.url, 'GET', `/federations/${fed}`)).json.modelHash as string;
    await api(env.coord.url, 'POST', `/federations/${fed}/start`);
    await waitFor('round 1', async () => (await api(env.coord.url, 'GET', `/federations/${fed}/rounds/1`)).json?.status === 'completed');
    const w1 = await weightsOf(env.coord.url, fed, 1);
    const decoded = decodeVector(encodeVector(w0, 'f16'));
    expect(Array.from(decoded)).to.not.deep.equal(Array.from(w0));
    const want = t.expectedDelta(decoded, FIT);
    for (let i = 0; i < DIM; i++) expect(w1[i]! - w0[i]!).to.be.closeTo(want[i]!, 1e-6);
    // What goes out on model-get is the f16 encoding of the current model: 2 bytes per value, not 4.
    const probe = await rawSocket(env.coord.url, await issueToken(env.coord.url, fed));
    const hash1 = (await api(env.coord.url, 'GET', `/federations/${fed}`)).json.modelHash as string;
    probe.peer.send({ type: 'model-get', hash: hash1 });
    const got = await waitFor('the encoded model', () => probe.received.find((m): m is Extract<ServerMessage, { type: 'model-encoded' }> => m.type === 'model-encoded'));
    expect(got.hash).to.equal(hash1);
    expect(got.encoded.byteLength).to.equal(encodeVector(w1, 'f16').byteLength).and.to.be.lessThan(DIM * 2 + 64);
    expect(Array.from(decodeVector(got.encoded))).to.deep.equal(Array.from(decodeVector(encodeVector(w1, 'f16'))));
    probe.close();
    const { ModelCache } = await import('../../client-sdk/model-cache.js');
    const cached = await new ModelCache(`${env.dir}/f16`).get(hash0);
    expect(cached && Array.from(cached.values)).to.deep.equal(Array.from(decoded));
  });

  it('an undecodable encoded update is refused to its sender with the reason; the round goes on', async () => {
    const fed = await createFederation(env.coord.url, {
      name: 'bad', model: TINY_MODEL, rounds: 1, deadlines: { trainMs: 1500 }, strategy: { ...strategy, minFitClients: 1 }, compression: { upload: { codec: 'topk', topkFraction: 0.1 } },
    });
    const attacker = await rawSocket(env.coord.url, await issueToken(env.coord.url, fed));
    const honest = newClient(env.coord.url, await issueToken(env.coord.url, fed), new LeastSquaresTrainer(DIM, 9, 'h'), `${env.dir}/h`);
    env.clients.push(honest);
    await honest.start();
    await api(env.coord.url, 'POST', `/federations/${fed}/start`);
    const fit = await waitFor('fit', () => attacker.received.find((m): m is Extract<ServerMessage, { type: 'fit' }> => m.type === 'fit'));
    expect(fit.aggregation.params.compression).to.deep.equal({ codec: 'topk', topkFraction: 0.1 });
    attacker.peer.send({ type: 'agg', round: fit.round, aggType: 'plain/update', payload: { encoded: new Uint8Array([1, 2, 3]), weight: 1 } });
    const refusal = await waitFor('the refusal', () => attacker.received.find((m) => m.type === 'error'));
    expect(refusal).to.include({ code: 'BAD_INPUT' });
    expect((refusal as { message: string }).message).to.match(/plain\/update\.encoded cannot be decoded/);
    const round = await waitFor('round 1', async () => {
      const r = await api(env.coord.url, 'GET', `/federations/${fed}/rounds/1`);
      return r.json?.status === 'completed' ? r.json : undefined;
    });
    expect(round.contributors).to.have.length(1);
    expect(round.metrics['agg.uploadBytes']).to.equal(16 + 8 * Math.ceil(0.1 * DIM));
    attacker.close();
  });

  it('upload compression with SecAgg+ is refused at creation', async () => {
    const r = await api(env.coord.url, 'POST', '/federations', {
      name: 'x', model: TINY_MODEL, rounds: 1, strategy: { clientsPerRound: 3, minFitClients: 3 }, secureAggregation: {}, compression: { upload: { codec: 'q8' } },
    });
    expect(r.status).to.equal(400);
    expect(r.json.error.message).to.match(/compression\.upload: upload compression applies to plain aggregation only/);
  });
});
