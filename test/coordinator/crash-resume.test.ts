import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { FederatedClient } from '../../client-sdk/federated-client.js';
import { LeastSquaresTrainer, TINY_MODEL, TINY_DIM } from '../runtime/fixtures/least-squares-trainer.js';
import { ADMIN, api, createFederation, issueToken, newClient, removeDir, tempDir, waitFor, weightsOf } from '../runtime/fixtures/harness.js';

const DIM = TINY_DIM;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts `coordinator/main.ts` as a real child process and resolves once it prints its listening line. */
function spawnCoordinator(dataDir: string, port: number): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'coordinator/main.ts', '--port', String(port), '--data-dir', dataDir, '--admin-token', ADMIN], {
    cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"event":"listening"'));
      if (line) resolve({ child, url: (JSON.parse(line) as { url: string }).url });
    });
    child.once('exit', (code) => reject(new Error(`coordinator exited (${code}) before listening: ${err}`)));
  });
}

describe('coordinator crash safety (real child process, SIGKILL mid-round)', function () {
  this.timeout(90_000);
  let dir: string;
  let child: ChildProcess | undefined;
  const clients: FederatedClient[] = [];

  before(() => { dir = tempDir('crash'); });
  after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    if (child && child.exitCode === null) child.kill('SIGKILL');
    removeDir(dir);
  });

  it('resumes from the last completed round; nothing completed is lost', async () => {
    const port = await freePort();
    const first = await spawnCoordinator(`${dir}/data`, port);
    child = first.child;
    const url = first.url;
    const fed = await createFederation(url, {
      name: 'crash', model: TINY_MODEL, seed: 5, rounds: 3, minClients: 2,
      strategy: { clientsPerRound: 2, minFitClients: 2, overSelection: 1, localEpochs: 2, learningRate: 0.05, optimizer: 'sgd', evaluateEvery: 0 },
      deadlines: { trainMs: 20_000 },
    });
    const trainers = [new LeastSquaresTrainer(DIM, 7, 'k1', 400), new LeastSquaresTrainer(DIM, 13, 'k2', 400)];
    for (let i = 0; i < 2; i++) clients.push(newClient(url, await issueToken(url, fed), trainers[i]!, `${dir}/client-${i}`));
    await Promise.all(clients.map((c) => c.start()));
    await api(url, 'POST', `/federations/${fed}/start`);

    // Kill the coordinator while round 2 is running (clients are training, 400 ms each).
    await waitFor('round 2 running', async () => {
      const r = await api(url, 'GET', `/federations/${fed}/rounds`);
      return r.json.rounds.some((x: { round: number; status: string }) => x.round === 2 && x.status === 'running');
    }, 30_000, 20);
    const roundsBefore = (await api(url, 'GET', `/federations/${fed}/rounds`)).json.rounds;
    const w1Before = await weightsOf(url, fed, 1);
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));

    const second = await spawnCoordinator(`${dir}/data`, port);
    child = second.child;
    const done = await waitFor('federation completed after restart', async () => {
      const r = await api(url, 'GET', `/federations/${fed}`);
      return r.json.status === 'completed' ? r.json : undefined;
    }, 45_000, 100);
    expect(done.completedRounds).to.equal(3);

    const rounds = (await api(url, 'GET', `/federations/${fed}/rounds`)).json.rounds as Array<{ round: number; status: string; modelHash: string | null; metrics: unknown; reason: string | null }>;
    // Round 1 survives untouched; round 2 was interrupted and its work redone as rounds 3 and 4.
    expect(rounds[0]).to.deep.include({ round: 1, status: 'completed', modelHash: roundsBefore[0].modelHash });
    expect(rounds[0]!.metrics).to.deep.equal(roundsBefore[0].metrics);
    expect(rounds[1]).to.deep.include({ round: 2, status: 'interrupted', reason: 'coordinator restarted mid-round' });
    expect(rounds.slice(2).map((r) => [r.round, r.status])).to.deep.equal([[3, 'completed'], [4, 'completed']]);
    const w1After = await weightsOf(url, fed, 1);
    expect(Buffer.from(w1After.buffer).equals(Buffer.from(w1Before.buffer))).to.equal(true);

    // Round 3 started from round 1's model: its result is w1 + the weighted mean of deltas taken at w1.
    const w3 = await weightsOf(url, fed, 3);
    const cfg = { localEpochs: 2, learningRate: 0.05 };
    const d = trainers.map((t) => t.expectedDelta(w1After, cfg));
    for (let i = 0; i < DIM; i++) expect(w3[i]!).to.be.closeTo(w1After[i]! + (7 * d[0]![i]! + 13 * d[1]![i]!) / 20, 1e-6);

    const audit = (await api(url, 'GET', '/audit?limit=500')).json.entries as Array<{ action: string }>;
    expect(audit.filter((a) => a.action === 'federation.create')).to.have.length(1);
  });
});
