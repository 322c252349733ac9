import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LastSeen } from '../../coordinator/last-seen.js';
import type { FitConfig, FitResult, LocalTrainer } from '../../shared/training/types.js';
import type { WeightManifest } from '../../shared/weights/manifest.js';
import { LeastSquaresTrainer, TINY_MODEL, TINY_DIM } from '../runtime/fixtures/least-squares-trainer.js';
import {
  api, createFederation, issueToken, newClient, useTestCoordinator, rawSocket, waitFor,
} from '../runtime/fixtures/harness.js';

const DIM = TINY_DIM;

/** A client whose data cannot be read: every fit fails the way a missing --data file does. */
class MissingDataTrainer implements LocalTrainer {
  fits = 0;
  async fit(_g: Float32Array, _m: WeightManifest, _c: FitConfig): Promise<FitResult> {
    this.fits++;
    throw new Error('cannot read /srv/merchant-b/events.jsonl: no such file');
  }
  async evaluate(): Promise<never> { throw new Error('no data'); }
  async close(): Promise<void> {}
}

describe('coordinator operator state over the real API', function () {
  this.timeout(30_000);
  const env = useTestCoordinator('operator', 'all');

  it('refuses SecAgg+ with a quorum below 3 at creation, naming the field, and writes nothing', async () => {
    const before = (await api(env.coord.url, 'GET', '/federations?archived=include')).json.federations.length;
    for (const strategy of [{ clientsPerRound: 2 }, { clientsPerRound: 10 }, { clientsPerRound: 5, minFitClients: 2 }]) {
      const r = await api(env.coord.url, 'POST', '/federations', { name: 'sa', model: TINY_MODEL, rounds: 1, strategy, secureAggregation: { clip: 1 } });
      expect(r.status, JSON.stringify(strategy)).to.equal(400);
      expect(r.json.error.code).to.equal('BAD_INPUT');
      expect(r.json.error.details.issues.map((i: { path: string }) => i.path)).to.deep.equal(['strategy.minFitClients']);
      expect(r.json.error.message).to.match(/secure aggregation needs at least 3 clients per round/);
    }
    expect((await api(env.coord.url, 'GET', '/federations?archived=include')).json.federations).to.have.length(before);
    const ok = await api(env.coord.url, 'POST', '/federations', {
      name: 'sa3', model: TINY_MODEL, rounds: 1, strategy: { clientsPerRound: 3, minFitClients: 3 }, secureAggregation: { clip: 1 },
    });
    expect(ok.status).to.equal(201);
    // Plain aggregation with two clients stays allowed.
    expect((await api(env.coord.url, 'POST', '/federations', { name: 'p2', model: TINY_MODEL, rounds: 1, strategy: { clientsPerRound: 2 } })).status).to.equal(201);
  });

  it('shows "waiting for N clients, M online" for a quorum that cannot be met', async () => {
    const fed = await createFederation(env.coord.url, {
      name: 'quorum', model: TINY_MODEL, rounds: 2, strategy: { clientsPerRound: 10, minFitClients: 8 },
    });
    const raw = await rawSocket(env.coord.url, await issueToken(env.coord.url, fed));
    try {
      await api(env.coord.url, 'POST', `/federations/${fed}/start`);
      const live = await waitFor('online', async () => {
        const r = (await api(env.coord.url, 'GET', `/federations/${fed}`)).json;
        return r.live.online === 1 ? r.live : undefined;
      });
      expect(live.waiting).to.deep.equal({ needed: 8, online: 1, message: 'waiting for 8 clients, 1 online' });
      expect(live.stage).to.equal('idle');
    } finally {
      raw.close();
    }
  });

  it('a client with unreadable data: rounds back off, the federation pauses with a reason, the error shows per client', async () => {
    const fed = await createFederation(env.coord.url, {
      name: 'bad-client', model: TINY_MODEL, rounds: 2,
      strategy: { clientsPerRound: 2, minFitClients: 2, overSelection: 1, learningRate: 0.05, optimizer: 'sgd', evaluateEvery: 0 },
      deadlines: { trainMs: 10_000 },
      failurePolicy: { backoffMs: 300, maxBackoffMs: 600, maxConsecutiveFailures: 3 },
    });
    const good = new LeastSquaresTrainer(DIM, 8, 'good');
    const bad = new MissingDataTrainer();
    env.clients.push(newClient(env.coord.url, await issueToken(env.coord.url, fed, 'good'), good, join(env.dir, 'good'), { name: 'merchant-a' }));
    env.clients.push(newClient(env.coord.url, await issueToken(env.coord.url, fed, 'bad'), bad, join(env.dir, 'bad'), { name: 'merchant-b' }));
    await Promise.all(env.clients.map((c) => c.start()));
    await api(env.coord.url, 'POST', `/federations/${fed}/start`);
    const paused = await waitFor('auto-pause', async () => {
      const r = (await api(env.coord.url, 'GET', `/federations/${fed}`)).json;
      return r.status === 'paused' ? r : undefined;
    }, 15_000);
    expect(paused.statusReason).to.match(/^paused after 3 consecutive failed rounds; last failure: quorum not reached: 1 of 2/);
    const rounds = (await api(env.coord.url, 'GET', `/federations/${fed}/rounds`)).json.rounds as Array<{ round: number; status: string; startedAt: number; finishedAt: number }>;
    expect(rounds.map((r) => r.status)).to.deep.equal(['failed', 'failed', 'failed']);
    // Gaps between a failure and the next start follow the backoff: 300 ms, then 600 ms.
    const gaps = rounds.slice(1).map((r, i) => r.startedAt - rounds[i]!.finishedAt);
    expect(gaps[0]).to.be.within(300, 1_500);
    expect(gaps[1]).to.be.within(600, 2_000);
    expect(good.fits, 'the good client trained once per round, not in a loop').to.equal(3);
    const listed = (await api(env.coord.url, 'GET', `/federations/${fed}/clients`)).json.clients as Array<{ name: string; online: boolean; lastError: { message: string; round: number } | null; round: { round: number; state: string; detail?: string } | null }>;
    const b = listed.find((c) => c.name === 'merchant-b')!;
    const a = listed.find((c) => c.name === 'merchant-a')!;
    expect(b.lastError).to.deep.include({ message: 'cannot read /srv/merchant-b/events.jsonl: no such file', round: 3 });
    expect(b.round).to.deep.equal({ round: 3, state: 'failed', detail: 'cannot read /srv/merchant-b/events.jsonl: no such file' });
    expect(a.lastError).to.equal(null);
    expect(a.round).to.deep.equal({ round: 3, state: 'update sent' });
    // Nothing more happens while paused.
    await new Promise((r) => setTimeout(r, 800));
    expect((await api(env.coord.url, 'GET', `/federations/${fed}/rounds`)).json.rounds).to.have.length(3);
    // Resuming clears the reason.
    const resumed = await api(env.coord.url, 'POST', `/federations/${fed}/resume`);
    expect(resumed.json.statusReason).to.equal(null);
    await api(env.coord.url, 'POST', `/federations/${fed}/stop`);
  });

  it('archives and deletes idle federations; a running one is refused with 409', async () => {
    const fed = await createFederation(env.coord.url, { name: 'old-campaign', model: TINY_MODEL, rounds: 1 });
    const ids = async (q = '') => ((await api(env.coord.url, 'GET', `/federations${q}`)).json.federations as Array<{ id: string }>).map((f) => f.id);
    const archived = await api(env.coord.url, 'POST', `/federations/${fed}/archive`);
    expect(archived.status).to.equal(200);
    expect(archived.json.archivedAt).to.be.a('number');
    expect(await ids()).to.not.include(fed);
    expect(await ids('?archived=include')).to.include(fed);
    expect(await ids('?archived=only')).to.deep.equal([fed]);
    expect((await api(env.coord.url, 'GET', '/federations?archived=maybe')).status).to.equal(400);
    expect((await api(env.coord.url, 'POST', `/federations/${fed}/archive`)).status).to.equal(409);
    const start = await api(env.coord.url, 'POST', `/federations/${fed}/start`);
    expect(start.status).to.equal(409);
    expect(start.json.error.message).to.match(/archived; unarchive it/);
    expect((await api(env.coord.url, 'POST', `/federations/${fed}/unarchive`)).json.archivedAt).to.equal(null);
    expect((await api(env.coord.url, 'POST', `/federations/${fed}/start`)).json.status).to.equal('running');
    const refused = await api(env.coord.url, 'DELETE', `/federations/${fed}`);
    expect(refused.status).to.equal(409);
    expect(refused.json.error.message).to.match(/running federation; pause or stop it first/);
    expect((await api(env.coord.url, 'POST', `/federations/${fed}/archive`)).status).to.equal(409);
    await api(env.coord.url, 'POST', `/federations/${fed}/stop`);
    await issueToken(env.coord.url, fed, 'merchant');
    expect(existsSync(join(env.dir, 'checkpoints', fed))).to.equal(true);
    const deleted = await api(env.coord.url, 'DELETE', `/federations/${fed}`);
    expect(deleted.status).to.equal(200);
    expect(deleted.json).to.deep.equal({ deleted: true, id: fed });
    expect((await api(env.coord.url, 'GET', `/federations/${fed}`)).status).to.equal(404);
    expect(await ids('?archived=include')).to.not.include(fed);
    expect(existsSync(join(env.dir, 'checkpoints', fed))).to.equal(false);
    expect(env.coord.store.listTokens(fed)).to.deep.equal([]);
    expect(env.coord.store.listAudit(5).map((e) => e.action)).to.include('federation.delete');
    expect((await api(env.coord.url, 'DELETE', `/federations/${fed}`)).status).to.equal(404);
  });

  it('lastSeenAt follows the client\'s traffic, not its connect time', async () => {
    const fed = await createFederation(env.coord.url, { name: 'seen', model: TINY_MODEL, rounds: 1 });
    const raw = await rawSocket(env.coord.url, await issueToken(env.coord.url, fed));
    try {
      const first = (await api(env.coord.url, 'GET', `/federations/${fed}/clients`)).json.clients[0];
      await new Promise((r) => setTimeout(r, 250));
      raw.peer.send({ type: 'model-get', hash: '0'.repeat(64) });
      const later = await waitFor('traffic seen', async () => {
        const c = (await api(env.coord.url, 'GET', `/federations/${fed}/clients`)).json.clients[0];
        return c.lastSeenAt > first.lastSeenAt ? c : undefined;
      });
      expect(later.lastSeenAt - first.lastSeenAt).to.be.at.least(250);
      expect(later.online).to.equal(true);
    } finally {
      raw.close();
    }
  });

  it('LastSeen writes to the store at most once per interval, and on disconnect', () => {
    let now = 0;
    const writes: Array<[string, number]> = [];
    const seen = new LastSeen((id, at) => writes.push([id, at]), 1000, () => now);
    seen.seen('a');
    now = 400; seen.seen('a');
    now = 999; seen.seen('a');
    expect(seen.get('a')).to.equal(999);
    now = 1000; seen.seen('a');
    now = 1500; seen.seen('a');
    seen.gone('a');
    expect(writes).to.deep.equal([['a', 0], ['a', 1000], ['a', 1500]]);
    expect(seen.get('a')).to.equal(undefined);
  });
});
