import { expect } from 'chai';
import type { ServerMessage } from '../../shared/protocol/messages.js';
import { LeastSquaresTrainer, TINY_MODEL, TINY_DIM } from '../runtime/fixtures/least-squares-trainer.js';
import {
  api, createFederation, issueToken, newClient, useTestCoordinator, rawSocket, waitFor, weightsOf,
} from '../runtime/fixtures/harness.js';

const DIM = TINY_DIM;

describe('a poisoned update never reaches the global model', function () {
  this.timeout(60_000);
  const env = useTestCoordinator('poison');

  it('an enrolled participant sending 3e38 everywhere (weight 1e12) is refused; the round commits the honest mean, all finite', async () => {
    const fed = await createFederation(env.coord.url, {
      name: 'poison', model: TINY_MODEL, rounds: 1, deadlines: { trainMs: 1500 },
      strategy: { clientsPerRound: 2, minFitClients: 1, overSelection: 1, localEpochs: 2, learningRate: 0.05, optimizer: 'sgd', evaluateEvery: 0 },
    });
    const attacker = await rawSocket(env.coord.url, await issueToken(env.coord.url, fed));
    const trainer = new LeastSquaresTrainer(DIM, 9, 'honest');
    const honest = newClient(env.coord.url, await issueToken(env.coord.url, fed), trainer, `${env.dir}/honest`);
    env.clients.push(honest);
    await honest.start();
    const before = await weightsOf(env.coord.url, fed, 0);
    await api(env.coord.url, 'POST', `/federations/${fed}/start`);
    const fit = await waitFor('fit for the attacker', () => attacker.received.find((m): m is Extract<ServerMessage, { type: 'fit' }> => m.type === 'fit'));
    attacker.peer.send({ type: 'agg', round: fit.round, aggType: 'plain/update', payload: { update: new Float32Array(DIM).fill(3e38), weight: 1e12 } });
    const refusal = await waitFor('the refusal', () => attacker.received.find((m) => m.type === 'error'));
    expect(refusal).to.include({ code: 'BAD_INPUT' });
    expect((refusal as { message: string }).message).to.match(/exceeds maxAbs 1000 at index 0/);
    const round = await waitFor('round 1 completed', async () => {
      const r = await api(env.coord.url, 'GET', `/federations/${fed}/rounds/1`);
      return r.json?.status === 'completed' ? r.json : undefined;
    });
    expect(round.contributors).to.have.length(1);
    const after = await weightsOf(env.coord.url, fed, 1);
    const delta = trainer.expectedDelta(before, { localEpochs: 2, learningRate: 0.05 });
    for (let i = 0; i < DIM; i++) {
      expect(Number.isFinite(after[i]!)).to.equal(true);
      expect(after[i]!).to.be.closeTo(before[i]! + delta[i]!, 1e-5);
    }
    attacker.close();
  });

  it('an aggregate above maxModelAbs fails the round with the reason, and the previous model stays', async () => {
    const fed = await createFederation(env.coord.url, {
      name: 'bound', model: TINY_MODEL, rounds: 1, updateBounds: { maxModelAbs: 1e-6 },
      strategy: { clientsPerRound: 1, minFitClients: 1, localEpochs: 1, learningRate: 0.05, optimizer: 'sgd' },
    });
    const before = (await api(env.coord.url, 'GET', `/federations/${fed}`)).json.modelHash as string;
    const c = newClient(env.coord.url, await issueToken(env.coord.url, fed), new LeastSquaresTrainer(DIM, 5, 'x'), `${env.dir}/c`);
    env.clients.push(c);
    await c.start();
    await api(env.coord.url, 'POST', `/federations/${fed}/start`);
    const failed = await waitFor('round 1 failed', async () => {
      const r = await api(env.coord.url, 'GET', `/federations/${fed}/rounds/1`);
      return r.json?.status === 'failed' ? r.json : undefined;
    });
    expect(failed.reason).to.match(/commit failed: aggregate rejected before commit: \|value\| .* exceeds maxModelAbs 0.000001 at index \d+; the previous model stays/);
    const now = (await api(env.coord.url, 'GET', `/federations/${fed}`)).json;
    expect(now.modelHash).to.equal(before);
    expect(now.completedRounds).to.equal(0);
  });
});
