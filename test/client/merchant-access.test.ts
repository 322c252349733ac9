import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningCoordinator } from '../../coordinator/server.js';
import type { FederatedClient } from '../../client-sdk/federated-client.js';
import { LocalProfiler } from '../../client-sdk/local-profiler.js';
import { keyCheckValue } from '../../shared/data/key-check.js';
import { DataFileError } from '../../shared/errors.js';
import type { LocalTrainer } from '../../shared/training/types.js';
import { LeastSquaresTrainer } from '../runtime/fixtures/least-squares-trainer.js';
import { api, createFederation, issueToken, newClient, removeDir, startTestCoordinator, tempDir, waitFor } from '../runtime/fixtures/harness.js';

const MODEL = {
  itemVocab: 64, categoryVocab: 8, priceBuckets: 0, gapBuckets: 0, textVocab: 0, textTokens: 0, useActions: true,
  maxLen: 8, dModel: 8, layers: 1, heads: 1, ffDim: 8, dropout: 0, numTiers: 2,
};
const KEY = 'merchant-shared-key';

async function merchantGet(base: string, path: string, token: string): Promise<Response> {
  return fetch(`${base}/api/v1/merchant${path}`, { headers: { authorization: `Bearer ${token}` } });
}

describe('merchants: model access with the enrolment token, key check, client start-up and error reports', function () {
  this.timeout(60_000);
  let dir: string;
  let coord: RunningCoordinator;
  let fed: string;
  const clients: FederatedClient[] = [];

  beforeEach(async () => {
    dir = tempDir('merchant');
    coord = await startTestCoordinator(dir);
    fed = await createFederation(coord.url, {
      name: 'm', model: MODEL, seed: 1, rounds: 2,
      strategy: { name: 'fedavg', clientsPerRound: 3, minFitClients: 3, localEpochs: 1, learningRate: 0.05, optimizer: 'sgd' },
    });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.stop()));
    await coord.close();
    removeDir(dir);
  });

  it('downloads the global model with an enrolment token, read-only, under its own file names (items 7, 10)', async () => {
    const token = await issueToken(coord.url, fed, 'shop');
    const json = await merchantGet(coord.url, '/model/latest/model.json', token);
    expect(json.status).to.equal(200);
    expect(json.headers.get('content-disposition')).to.equal('attachment; filename=model.json');
    const bin = await merchantGet(coord.url, '/model/latest/weights.bin', token);
    expect(bin.headers.get('content-disposition')).to.equal('attachment; filename=weights.bin');
    expect((await bin.arrayBuffer()).byteLength).to.be.above(1000);
    // The operator's download keeps the names too, so model.json still finds weights.bin beside it.
    const admin = await api(coord.url, 'GET', `/federations/${fed}/rounds/0/weights.bin`);
    expect(admin.status).to.equal(200);
    const adminRes = await fetch(`${coord.url}/api/v1/federations/${fed}/rounds/0/model.json`, { headers: { authorization: 'Bearer test-admin-token-0123456789' } });
    expect(adminRes.headers.get('content-disposition')).to.equal('attachment; filename=model.json');
    // Read-only: the enrolment token opens nothing of the operator API.
    expect((await api(coord.url, 'GET', `/federations/${fed}`, undefined, token)).status).to.equal(403);
    expect((await api(coord.url, 'POST', `/federations/${fed}/start`, undefined, token)).status).to.equal(403);
    expect((await merchantGet(coord.url, '/federation', 'fpt_not-a-token')).status).to.equal(401);
    const tokens = (await api(coord.url, 'GET', `/federations/${fed}/tokens`)).json.tokens as Array<{ id: string }>;
    await api(coord.url, 'DELETE', `/federations/${fed}/tokens/${tokens[0]!.id}`);
    expect((await merchantGet(coord.url, '/model/latest/model.json', token)).status).to.equal(403);
  });

  it('LocalProfiler.open({ url, token }) profiles with the downloaded model; a wrong hash key is refused (items 7, 9)', async () => {
    const token = await issueToken(coord.url, fed, 'shop');
    const pin = await fetch(`${coord.url}/api/v1/merchant/key-check`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ keyCheck: keyCheckValue(KEY) }),
    });
    expect(pin.status).to.equal(200);
    const profiler = await LocalProfiler.open({ url: coord.url, token, hashKey: KEY, backend: 'cpu' });
    try {
      expect(profiler.round).to.equal(0);
      const events = [1, 2, 3].map((i) => ({ userId: 'ann', timestamp: i * 1000, itemId: `sku-${i}`, categoryId: 'shoes', action: 'view' as const }));
      const [p] = profiler.profile([{ userId: 'ann', events }]);
      expect(p!.userKey).to.equal('ann');
      expect(p!.activity.events).to.equal(3);
    } finally {
      profiler.close();
    }
    let refused: Error | undefined;
    try {
      (await LocalProfiler.open({ url: coord.url, token, hashKey: 'another-key-entirely', backend: 'cpu' })).close();
    } catch (e) {
      refused = e as Error;
    }
    expect(refused?.message).to.match(/the hash key does not match the federation's \(key check [0-9a-f]{16} ≠ [0-9a-f]{16}\)/);
  });

  it('a client with a different hash key is refused at start; the first one pins the check value (item 9)', async () => {
    const a = newClient(coord.url, await issueToken(coord.url, fed, 'a'), new LeastSquaresTrainer(1, 5, 'a'), join(dir, 'a'), { hashKey: KEY, statusPollMs: 0 });
    const b = newClient(coord.url, await issueToken(coord.url, fed, 'b'), new LeastSquaresTrainer(1, 5, 'b'), join(dir, 'b'), { hashKey: 'not-the-same-key', statusPollMs: 0 });
    clients.push(a, b);
    await a.start();
    let err: (Error & { code?: string }) | undefined;
    try { await b.start(); } catch (e) { err = e as Error & { code?: string }; }
    expect(err?.code).to.equal('BAD_CONFIG');
    expect(err?.message).to.contain(`--hash-key: the hash key does not match the federation's (key check ${keyCheckValue('not-the-same-key')} ≠ ${keyCheckValue(KEY)})`);
    // The operator can clear a mistaken pin; the next merchant to connect pins its key.
    const reset = await api(coord.url, 'DELETE', `/federations/${fed}/key-check`);
    expect(reset.json).to.deep.equal({ previous: keyCheckValue(KEY) });
    const c = newClient(coord.url, await issueToken(coord.url, fed, 'c'), new LeastSquaresTrainer(1, 5, 'c'), join(dir, 'c'), { hashKey: 'not-the-same-key', statusPollMs: 0 });
    clients.push(c);
    await c.start();
    const info = await (await merchantGet(coord.url, '/federation', await issueToken(coord.url, fed, 'd'))).json() as { keyCheck: string };
    expect(info.keyCheck).to.equal(keyCheckValue('not-the-same-key'));
  });

  it('checks its data before enrolling: a missing file fails start() and nothing enrols (item 5)', async () => {
    const token = await issueToken(coord.url, fed, 'bad-data');
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '');
    for (const dataSource of [join(dir, 'missing.jsonl'), empty]) {
      const c = newClient(coord.url, token, undefined, join(dir, 'c'), { dataSource, hashKey: KEY });
      clients.push(c);
      let err: unknown;
      try { await c.start(); } catch (e) { err = e; }
      expect(err).to.be.instanceOf(DataFileError);
      expect((err as DataFileError).file).to.equal(dataSource);
    }
    expect((await api(coord.url, 'GET', `/federations/${fed}/clients`)).json.clients).to.deep.equal([]);
  });

  it('says why it cannot connect, with the URL (item 5)', async () => {
    const c = newClient('http://127.0.0.1:9', 'fpt_whatever-token', new LeastSquaresTrainer(1, 5, 'x'), join(dir, 'x'));
    clients.push(c);
    const failures: Array<{ url: string; reason: string }> = [];
    c.on('connect-failed', (f) => failures.push(f));
    void c.start().catch(() => undefined);
    await waitFor('a connect failure', () => failures.length > 0, 10_000);
    expect(failures[0]!.url).to.equal('http://127.0.0.1:9');
    expect(failures[0]!.reason).to.match(/ECONNREFUSED|websocket error/);
  });

  it('reports its own errors to the coordinator, which lists them per client, and says when the federation stops (items 4, 5)', async () => {
    const broken: LocalTrainer = {
      fit: () => Promise.reject(new Error('never')), evaluate: () => Promise.reject(new Error('never')), close: async () => undefined,
    } as unknown as LocalTrainer;
    const c = newClient(coord.url, await issueToken(coord.url, fed, 'broken'), undefined, join(dir, 'b'), {
      trainer: () => { void broken; throw new DataFileError('orders.csv', 'missing column "timestamp"'); },
      statusPollMs: 100,
    });
    clients.push(c);
    const ended: string[] = [];
    c.on('federation-ended', (e) => ended.push(e.status));
    const own: string[] = [];
    c.on('client-error', (e) => own.push(`${e.stage}: ${e.message}`));
    const who = await c.start();
    const listed = await waitFor('the error in the client list', async () => {
      const cl = (await api(coord.url, 'GET', `/federations/${fed}/clients`)).json.clients as Array<{ id: string; lastError: { stage: string; message: string } | null }>;
      return cl.find((x) => x.id === who.clientId && x.lastError);
    });
    expect(listed.lastError).to.include({ stage: 'data', message: 'orders.csv: missing column "timestamp"' });
    expect(own).to.deep.equal(['data: orders.csv: missing column "timestamp"']);
    await api(coord.url, 'POST', `/federations/${fed}/start`);
    await api(coord.url, 'POST', `/federations/${fed}/stop`);
    await waitFor('federation-ended', () => ended.length > 0, 5000);
    expect(ended).to.deep.equal(['stopped']);
  });
});
