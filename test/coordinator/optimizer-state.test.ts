import { expect } from 'chai';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FederatedClient } from '../../client-sdk/federated-client.js';
import { CheckpointStore, OPTIMIZER_BIN } from '../../coordinator/checkpoints.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { decodeServerOptimizerState, encodeServerOptimizerState } from '../../shared/aggregation/server-optimizers.js';
import { FedProfileError } from '../../shared/errors.js';
import { LeastSquaresTrainer, TINY_MODEL, TINY_DIM } from '../runtime/fixtures/least-squares-trainer.js';
import {
  api, createFederation, issueToken, newClient, removeDir, startTestCoordinator, tempDir, waitFor, weightsOf,
} from '../runtime/fixtures/harness.js';

const DIM = TINY_DIM;

describe('server optimiser state: a binary file beside the checkpoint, hashed with it', function () {
  this.timeout(60_000);
  let dir: string | undefined;
  let coord: RunningCoordinator | undefined;
  const clients: FederatedClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.stop()));
    await coord?.close();
    coord = undefined;
    if (dir) removeDir(dir);
    dir = undefined;
  });

  it('encodes and decodes bit for bit, and refuses a truncated or foreign file', () => {
    const m = Float32Array.from({ length: 7 }, (_, i) => Math.fround(i / 3 - 1));
    const v = Float32Array.from({ length: 7 }, (_, i) => Math.fround(1e-6 * (i + 1)));
    const bytes = encodeServerOptimizerState({ name: 'fedyogi', step: 4, m, v });
    const back = decodeServerOptimizerState(bytes);
    expect(back.name).to.equal('fedyogi');
    expect(back.step).to.equal(4);
    expect(Buffer.from(back.m!.buffer).equals(Buffer.from(m.buffer))).to.equal(true);
    expect(Buffer.from(back.v!.buffer).equals(Buffer.from(v.buffer))).to.equal(true);
    expect(decodeServerOptimizerState(encodeServerOptimizerState({ name: 'fedavg', step: 2, m: null, v: null }))).to.deep.equal({ name: 'fedavg', step: 2, m: null, v: null });
    for (const bad of [bytes.subarray(0, bytes.length - 4), new TextEncoder().encode('{"name":"fedadam"}')]) {
      expect(() => decodeServerOptimizerState(bad)).to.throw(FedProfileError).with.property('code', 'INTEGRITY');
    }
  });

  it('FedAdam: the store row keeps a small record, optimizer.bin holds the moments, a restart resumes from it, tampering is refused', async () => {
    const d = tempDir('optimizer-state');
    dir = d;
    let running = await startTestCoordinator(d);
    coord = running;
    const fed = await createFederation(running.url, {
      name: 'adam', model: TINY_MODEL, seed: 2, rounds: 2,
      strategy: { name: 'fedadam', clientsPerRound: 2, minFitClients: 2, overSelection: 1, localEpochs: 1, learningRate: 0.05, optimizer: 'sgd', evaluateEvery: 0 },
      deadlines: { trainMs: 20_000 },
    });
    for (const [i, n] of [7, 13].entries()) {
      const c = newClient(running.url, await issueToken(running.url, fed), new LeastSquaresTrainer(DIM, n, `adam-${i}`), `${d}/client-${i}`);
      clients.push(c);
      await c.start();
    }
    await api(running.url, 'POST', `/federations/${fed}/start`);
    await waitFor('completed', async () => (await api(running.url, 'GET', `/federations/${fed}`)).json.status === 'completed');

    const row = running.store.getFederation(fed)!;
    const record = row.strategyState as { name: string; lastRound: number; optimizer: { step: number; file: string; sha256: string } };
    expect(record).to.deep.include({ name: 'fedadam', lastRound: 2 });
    expect(record.optimizer).to.include({ step: 2, file: OPTIMIZER_BIN });
    expect(JSON.stringify(record).length).to.be.below(400);
    const checkpoints = new CheckpointStore(d);
    const file = join(checkpoints.dir(fed, 2), OPTIMIZER_BIN);
    const state = decodeServerOptimizerState(new Uint8Array(readFileSync(file)));
    expect(state.step).to.equal(2);
    expect(state.m).to.have.length(DIM);
    expect(state.v).to.have.length(DIM);
    expect(statSync(file).size).to.be.above(2 * DIM * 4);
    const modelJson = JSON.parse(readFileSync(join(checkpoints.dir(fed, 2), 'model.json'), 'utf8'));
    expect(modelJson.userDefinedMetadata.fedprofileOptimizer.sha256).to.equal(record.optimizer.sha256);
    const final = await weightsOf(running.url, fed, 2);

    await Promise.all(clients.splice(0).map((c) => c.stop()));
    await running.close();
    running = await startTestCoordinator(d);
    coord = running;
    const rt = running.runtime(fed)!;
    expect(Buffer.from(rt.model.values.buffer).equals(Buffer.from(final.buffer))).to.equal(true);
    await running.close();
    coord = undefined;

    const tampered = readFileSync(file);
    tampered[tampered.length - 1] ^= 1;
    writeFileSync(file, tampered);
    // A tampered optimiser file sets aside its own federation (INTEGRITY, naming the file); the coordinator starts.
    running = await startTestCoordinator(d);
    coord = running;
    const down = (await api(running.url, 'GET', `/federations/${fed}`)).json;
    expect(down.status).to.equal('needs-attention');
    expect(down.attention.code).to.equal('INTEGRITY');
    expect(down.attention.reason).to.match(/optimizer\.bin: SHA-256 [0-9a-f]{64}, the store expects/);
  });

  it('FedAvg keeps no moments: no optimizer.bin, a record without a file, and a restart still resumes', async () => {
    const d = tempDir('optimizer-state-avg');
    dir = d;
    let running = await startTestCoordinator(d);
    coord = running;
    const fed = await createFederation(running.url, {
      name: 'avg', model: TINY_MODEL, seed: 2, rounds: 1,
      strategy: { name: 'fedavg', clientsPerRound: 2, minFitClients: 2, overSelection: 1, localEpochs: 1, learningRate: 0.05, optimizer: 'sgd', evaluateEvery: 0 },
    });
    for (const [i, n] of [7, 13].entries()) {
      const c = newClient(running.url, await issueToken(running.url, fed), new LeastSquaresTrainer(DIM, n, `avg-${i}`), `${d}/client-${i}`);
      clients.push(c);
      await c.start();
    }
    await api(running.url, 'POST', `/federations/${fed}/start`);
    await waitFor('completed', async () => (await api(running.url, 'GET', `/federations/${fed}`)).json.status === 'completed');
    expect(running.store.getFederation(fed)!.strategyState).to.deep.equal({ name: 'fedavg', lastRound: 1, optimizer: { name: 'fedavg', step: 1 } });
    expect(() => statSync(join(new CheckpointStore(d).dir(fed, 1), OPTIMIZER_BIN))).to.throw(/ENOENT/);
    await Promise.all(clients.splice(0).map((c) => c.stop()));
    await running.close();
    running = await startTestCoordinator(d);
    coord = running;
    expect(running.runtime(fed)!.snapshot().completedRounds).to.equal(1);
  });
});
