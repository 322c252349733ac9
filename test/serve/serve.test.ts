import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProfileService, type RunningProfileService } from '../../client-sdk/serve/service.js';
import { initialGlobalWeights } from '../../shared/model/init.js';
import { initBackend } from '../../shared/tf/backend.js';
import { saveArtifacts } from '../../shared/weights/artifacts.js';

const MODEL = {
  itemVocab: 64, categoryVocab: 8, priceBuckets: 0, gapBuckets: 0, textVocab: 0, textTokens: 0, useActions: true,
  maxLen: 8, dModel: 8, layers: 1, heads: 1, ffDim: 8, dropout: 0, numTiers: 2,
};
const TOKEN = 'service-token-0123456789';

describe('fedprofile serve: the merchant profile service', function () {
  this.timeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'fp-serve-'));
  let svc: RunningProfileService;
  const get = (path: string, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) => fetch(`${svc.url}${path}`, { headers });

  before(async () => {
    await initBackend('cpu');
    const { manifest, values } = await initialGlobalWeights(MODEL, 2);
    await saveArtifacts(join(dir, 'model'), { modelConfig: MODEL, manifest, values, metadata: { round: 3 } });
    const lines = [];
    for (let u = 0; u < 12; u++) {
      for (let i = 0; i < 4; i++) lines.push(JSON.stringify({ userId: `u${u}`, timestamp: 1000 * (i + 1), itemId: `sku-${(u + i) % 9}`, categoryId: `c${u % 3}`, action: i === 3 && u % 2 ? 'purchase' : 'view' }));
    }
    writeFileSync(join(dir, 'events.jsonl'), `${lines.join('\n')}\n`);
    svc = await startProfileService({ data: join(dir, 'events.jsonl'), hashKey: 'the-shared-key', authToken: TOKEN, model: { modelDir: join(dir, 'model') }, port: 0, backend: 'cpu' });
  });
  after(async () => {
    await svc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a profile per user behind the bearer token, naming an unknown user', async () => {
    expect((await get('/profiles/u1', {})).status).to.equal(401);
    expect((await get('/profiles/u1', { authorization: 'Bearer wrong' })).status).to.equal(403);
    const r = await get('/profiles/u1');
    expect(r.status).to.equal(200);
    const p = await r.json() as { userKey: string; activity: { events: number; actionCounts: { purchase: number } } };
    expect(p.userKey).to.equal('u1');
    expect(p.activity.events).to.equal(4);
    expect(p.activity.actionCounts.purchase).to.equal(1);
    const missing = await get('/profiles/nobody');
    expect(missing.status).to.equal(404);
    expect(((await missing.json()) as { error: { message: string } }).error.message).to.contain('"nobody"');
    expect(await (await fetch(`${svc.url}/healthz`)).json()).to.deep.equal({ status: 'ok', users: 12, modelRound: 3 });
  });

  it('POST /events updates the profile before answering', async () => {
    const events = [1, 2].map((i) => ({ userId: 'u1', timestamp: 10_000 + i, itemId: 'sku-new', categoryId: 'c1', action: 'purchase' }));
    const post = await fetch(`${svc.url}/events`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(events) });
    expect(post.status).to.equal(202);
    const body = await post.json() as { accepted: number; usersRefreshed: number; refreshMs: number };
    expect(body).to.include({ accepted: 2, usersRefreshed: 1 });
    const p = await (await get('/profiles/u1')).json() as { activity: { events: number; actionCounts: { purchase: number } } };
    expect(p.activity.events).to.equal(6);
    expect(p.activity.actionCounts.purchase).to.equal(3);
    const bad = await fetch(`${svc.url}/events`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'u1', action: 'fly' }) });
    expect(bad.status).to.equal(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).to.match(/^invalid event: /);
  });

  it('lists segments and their users as JSON and CSV', async () => {
    const segs = (await (await get('/segments')).json() as { segments: Array<{ segment: number; users: number }> }).segments;
    expect(segs.reduce((n, s) => n + s.users, 0)).to.equal(12);
    const csv = await (await get('/segments?format=csv')).text();
    expect(csv.split('\n')[0]).to.equal('segment,label,users');
    expect(csv.trim().split('\n')).to.have.length(segs.length + 1);
    const first = segs[0]!;
    const users = (await (await get(`/segments/${first.segment}/users`)).json() as { users: Array<{ userId: string }> }).users;
    expect(users).to.have.length(first.users);
    const usersCsv = await (await get(`/segments/${first.segment}/users`, { authorization: `Bearer ${TOKEN}`, accept: 'text/csv' })).text();
    expect(usersCsv.split('\n')[0]).to.equal('userId,propensity,tier,lapsed');
    expect(usersCsv.trim().split('\n').slice(1).map((l) => l.split(',')[0]).sort()).to.deep.equal(users.map((u) => u.userId).sort());
  });

  it('takes its model from the coordinator with the enrolment token, and checks it for updates', async () => {
    const { startTestCoordinator, createFederation, issueToken } = await import('../runtime/fixtures/harness.js');
    const coord = await startTestCoordinator(join(dir, 'coord'));
    let remote: RunningProfileService | undefined;
    try {
      const fed = await createFederation(coord.url, { name: 's', model: MODEL, seed: 4, rounds: 1 });
      const token = await issueToken(coord.url, fed, 'serve');
      remote = await startProfileService({
        data: join(dir, 'events.jsonl'), hashKey: 'the-shared-key', authToken: TOKEN, model: { url: coord.url, token }, modelPollMs: 0, port: 0, backend: 'cpu',
      });
      expect(remote.state.modelRound).to.equal(0);
      expect(remote.state.users).to.equal(12);
      expect(await remote.checkModel()).to.equal(false); // no newer round yet: nothing reloaded
    } finally {
      await remote?.close();
      await coord.close();
    }
  });
});
