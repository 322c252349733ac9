import { expect } from 'chai';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FederatedClient } from '../../client-sdk/federated-client.js';
import { fileSystemWriter, type CheckpointWriter } from '../../coordinator/checkpoints.js';
import { startCoordinator, type RunningCoordinator } from '../../coordinator/server.js';
import { LeastSquaresTrainer, TINY_MODEL, TINY_DIM } from '../runtime/fixtures/least-squares-trainer.js';
import {
  ADMIN, api, createFederation, issueToken, newClient, removeDir, silent, startTestCoordinator, tempDir, waitFor,
} from '../runtime/fixtures/harness.js';

const DIM = TINY_DIM;
const roundDir = (dir: string, fed: string, round: number): string => join(dir, 'checkpoints', fed, `round-${String(round).padStart(6, '0')}`);

/**
 * Disk failures are simulated at the checkpoint file-IO boundary (an injected writer that throws ENOSPC
 * while "full"), and SQLite write failures come from SQLite itself (PRAGMA query_only makes every write
 * fail); no filesystem is actually filled.
 */
describe('storage faults fail the round, are shown, and the coordinator carries on', function () {
  this.timeout(60_000);
  let dir: string;
  let coord: RunningCoordinator;
  const clients: FederatedClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.stop()));
    await coord.close();
    removeDir(dir);
  });

  async function startClients(fed: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const c = newClient(coord.url, await issueToken(coord.url, fed), new LeastSquaresTrainer(DIM, 5 + i, `c${i}`), join(dir, `client-${i}`));
      clients.push(c);
    }
    await Promise.all(clients.map((c) => c.start()));
  }

  it('a checkpoint write failing with ENOSPC fails the round with that reason; rounds resume once space returns', async () => {
    dir = tempDir('enospc');
    let full = false;
    const writer: CheckpointWriter = {
      ...fileSystemWriter,
      writeFile: async (path, bytes) => {
        if (full) throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: 'ENOSPC' });
        return fileSystemWriter.writeFile(path, bytes);
      },
    };
    coord = await startCoordinator({ port: 0, dataDir: dir, adminToken: ADMIN, logger: silent, checkpointWriter: writer });
    const fed = await createFederation(coord.url, {
      name: 'disk', model: TINY_MODEL, rounds: 2, strategy: { clientsPerRound: 2, minFitClients: 2, localEpochs: 1, learningRate: 0.05, optimizer: 'sgd' },
    });
    const before = (await api(coord.url, 'GET', `/federations/${fed}`)).json.modelHash as string;
    full = true;
    await startClients(fed, 2);
    await api(coord.url, 'POST', `/federations/${fed}/start`);
    const failed = await waitFor('round 1 failed', async () => {
      const r = await api(coord.url, 'GET', `/federations/${fed}/rounds/1`);
      return r.json?.status === 'failed' ? r.json : undefined;
    });
    expect(failed.reason).to.match(/commit failed: ENOSPC: no space left on device/);
    const shown = (await api(coord.url, 'GET', `/federations/${fed}`)).json;
    expect(shown.modelHash).to.equal(before); // the previous model stays
    expect((await fetch(`${coord.url}/healthz`)).status).to.equal(200);
    full = false;
    const done = await waitFor('a later round completed', async () => {
      const r = await api(coord.url, 'GET', `/federations/${fed}`);
      return r.json.completedRounds >= 1 ? r.json : undefined;
    }, 30_000);
    expect(done.modelHash).to.not.equal(before);
    expect(done.attention).to.equal(null);
  });

  it('SQLite refusing every write (while starting, committing and failing a round) does not exit the process; rounds resume after', async () => {
    dir = tempDir('sqlro');
    coord = await startTestCoordinator(dir);
    const fed = await createFederation(coord.url, {
      name: 'sql', model: TINY_MODEL, rounds: 3, strategy: { clientsPerRound: 2, minFitClients: 2, localEpochs: 1, learningRate: 0.05, optimizer: 'sgd' },
    });
    await startClients(fed, 2);
    // From here every write fails inside SQLite itself ("attempt to write a readonly database"), as a full
    // disk would make them fail: the round start, its commit and the failure record.
    coord.store.db.pragma('query_only = ON');
    expect(() => coord.store.audit('probe', 'probe', null)).to.throw(/readonly database/);
    await api(coord.url, 'POST', `/federations/${fed}/start`);
    const attention = await waitFor('the failure is shown', async () => {
      const r = await api(coord.url, 'GET', `/federations/${fed}`);
      // Round 1 could not be committed (nor its failure recorded) and round 2 has begun.
      return r.json?.attention && r.json.live.lastRound >= 2 ? r.json : undefined;
    });
    expect(attention.attention.reason).to.match(/readonly database/);
    expect(attention.completedRounds).to.equal(0);
    expect((await fetch(`${coord.url}/healthz`)).status).to.equal(200);
    coord.store.db.pragma('query_only = OFF');
    const done = await waitFor('a round completed once writes work again', async () => {
      const r = await api(coord.url, 'GET', `/federations/${fed}`);
      return r.json.completedRounds >= 1 ? r.json : undefined;
    }, 30_000);
    expect(done.attention).to.equal(null);
    const rounds = (await api(coord.url, 'GET', `/federations/${fed}/rounds`)).json.rounds as Array<{ status: string }>;
    expect(rounds.some((r) => r.status === 'completed')).to.equal(true);
  });
});

describe('checkpoint corruption is contained to its federation', function () {
  this.timeout(60_000);
  let dir: string;
  let coord: RunningCoordinator;
  afterEach(async () => { await coord.close(); removeDir(dir); });

  it('a flipped byte, a truncated model.json and a missing directory each set aside only their federation; the intact one starts', async () => {
    dir = tempDir('corrupt');
    coord = await startTestCoordinator(dir);
    const ids: string[] = [];
    for (const name of ['flipped', 'truncated', 'missing', 'intact']) ids.push(await createFederation(coord.url, { name, model: TINY_MODEL, rounds: 1 }));
    await coord.close();
    const [flipped, truncated, missing, intact] = ids as [string, string, string, string];
    const bin = join(roundDir(dir, flipped, 0), 'weights.bin');
    const bytes = readFileSync(bin);
    bytes[17]! ^= 0xff;
    writeFileSync(bin, bytes);
    const json = join(roundDir(dir, truncated, 0), 'model.json');
    writeFileSync(json, readFileSync(json).subarray(0, 100));
    rmSync(roundDir(dir, missing, 0), { recursive: true });

    coord = await startTestCoordinator(dir);
    const fed = async (id: string) => (await api(coord.url, 'GET', `/federations/${id}`)).json;
    expect((await fed(intact)).status).to.equal('created');
    expect((await api(coord.url, 'POST', `/federations/${intact}/start`)).json.status).to.equal('running');
    const f = await fed(flipped);
    expect(f.status).to.equal('needs-attention');
    expect(f.attention).to.include({ code: 'INTEGRITY', file: bin });
    expect(f.attention.reason).to.match(/SHA-256/);
    const t = await fed(truncated);
    expect(t.attention).to.include({ file: json });
    expect(t.attention.reason).to.match(/not valid JSON/);
    const m = await fed(missing);
    expect(m.attention.file).to.equal(join(roundDir(dir, missing, 0), 'model.json'));
    expect(m.attention.reason).to.match(/missing/);
    const health = await (await fetch(`${coord.url}/healthz`)).json() as { federations: number; needsAttention: number };
    expect(health).to.include({ federations: 1, needsAttention: 3 });
  });

  it('every model download verifies the recorded hash: a swapped checkpoint is refused with INTEGRITY', async () => {
    dir = tempDir('swap');
    coord = await startTestCoordinator(dir);
    const a = await createFederation(coord.url, { name: 'a', model: TINY_MODEL, rounds: 1, seed: 1 });
    const b = await createFederation(coord.url, { name: 'b', model: TINY_MODEL, rounds: 1, seed: 2 });
    expect((await api(coord.url, 'GET', `/federations/${a}/rounds/0/weights.bin`)).status).to.equal(200);
    // Each directory is self-consistent (its own SHA-256 record holds); only the recorded hash tells them apart.
    renameSync(roundDir(dir, a, 0), join(dir, 'tmp-a'));
    renameSync(roundDir(dir, b, 0), roundDir(dir, a, 0));
    renameSync(join(dir, 'tmp-a'), roundDir(dir, b, 0));
    for (const file of ['weights.bin', 'model.json']) {
      const r = await api(coord.url, 'GET', `/federations/${a}/rounds/0/${file}`);
      expect(r.status).to.equal(500);
      expect(r.json.error.code).to.equal('INTEGRITY');
      expect(r.json.error.message).to.match(/does not match the recorded/);
    }
    // A flipped byte is refused too.
    const bin = join(roundDir(dir, b, 0), 'weights.bin');
    const bytes = readFileSync(bin);
    bytes[3]! ^= 1;
    writeFileSync(bin, bytes);
    const r = await api(coord.url, 'GET', `/federations/${b}/rounds/0/weights.bin`);
    expect(r.json.error.code).to.equal('INTEGRITY');
  });
});
