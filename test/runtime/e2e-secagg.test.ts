import { expect } from 'chai';
import type { RunningCoordinator } from '../../coordinator/server.js';
import type { FederatedClient } from '../../client-sdk/federated-client.js';
import { LeastSquaresTrainer, TINY_MODEL, TINY_DIM } from './fixtures/least-squares-trainer.js';
import { api, createFederation, issueToken, newClient, removeDir, startTestCoordinator, tempDir, waitFor, weightsOf } from './fixtures/harness.js';

const DIM = TINY_DIM;

describe('runtime end to end with SecAgg+ behind the aggregation seam', function () {
  this.timeout(60_000);
  let dir: string;
  let coord: RunningCoordinator;
  const clients: FederatedClient[] = [];
  before(async () => { dir = tempDir('secagg'); coord = await startTestCoordinator(dir); });
  after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await coord.close();
    removeDir(dir);
  });

  it('a SecAgg+ round over sockets gives the plain FedAvg model within the quantisation bound', async () => {
    const fed = await createFederation(coord.url, {
      name: 'secagg', model: TINY_MODEL, seed: 9, rounds: 1, minClients: 4,
      strategy: { clientsPerRound: 4, minFitClients: 3, overSelection: 1, localEpochs: 2, learningRate: 0.05, optimizer: 'sgd', evaluateEvery: 0 },
      deadlines: { trainMs: 20_000, aggregationStageMs: 10_000 },
      secureAggregation: { clip: 1, maxWeight: 32 },
    });
    const trainers = [4, 9, 17, 30].map((n, i) => new LeastSquaresTrainer(DIM, n, `sa-${i}`));
    const sentCounts: number[] = [];
    const onSend = (m: { type: string; numExamples?: number }): void => { if (m.type === 'fit-meta') sentCounts.push(m.numExamples!); };
    for (let i = 0; i < trainers.length; i++) clients.push(newClient(coord.url, await issueToken(coord.url, fed), trainers[i]!, `${dir}/c${i}`, { onSend }));
    await Promise.all(clients.map((c) => c.start()));
    await api(coord.url, 'POST', `/federations/${fed}/start`);
    const round = await waitFor('round 1 completed', async () => {
      const r = await api(coord.url, 'GET', `/federations/${fed}/rounds/1`);
      return r.status === 200 && r.json.status !== 'running' ? r.json : undefined;
    });
    expect(round.status, round.reason).to.equal('completed');
    expect(round.contributors).to.have.length(4);
    // The example counts are the weights the masked vectors hide: none travels in clear, only their sum.
    expect(sentCounts).to.deep.equal([0, 0, 0, 0]);
    const before = await weightsOf(coord.url, fed, 0);
    const after = await weightsOf(coord.url, fed, 1);
    const total = trainers.reduce((s, t) => s + t.samples, 0);
    const deltas = trainers.map((t) => t.expectedDelta(before, { localEpochs: 2, learningRate: 0.05 }));
    let maxErr = 0;
    for (let i = 0; i < DIM; i++) {
      const mean = trainers.reduce((s, t, k) => s + t.samples * deltas[k]![i]!, 0) / total;
      maxErr = Math.max(maxErr, Math.abs(after[i]! - (before[i]! + mean)));
    }
    // The aggregator's own bound on the fixed-point error of the mean, plus float32 rounding of w + mean.
    const bound = round.metrics['agg.quantisationErrorBound'] as number;
    expect(bound).to.be.above(0).and.below(1e-6);
    expect(maxErr).to.be.below(bound + 2 ** -22);
    expect(round.metrics['agg.clippedFraction']).to.equal(0);
    expect(round.metrics['agg.bitWidth']).to.be.a('number');
  });
});
