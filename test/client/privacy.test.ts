import { expect } from 'chai';
import seedrandom from 'seedrandom';
import type { FederatedClient } from '../../client-sdk/federated-client.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { ACTIONS, type BehaviourEvent } from '../../shared/data/events.js';
import { UserProfileSchema } from '../../shared/model/profile.js';
import { encodeMessage } from '../../shared/protocol/codec.js';
import type { ClientMessage } from '../../shared/protocol/messages.js';
import { api, createFederation, issueToken, newClient, removeDir, startTestCoordinator, tempDir, waitFor } from '../runtime/fixtures/harness.js';

/** A small profile model with every side field on, so text and prices really flow through training. */
const SMALL_MODEL = {
  itemVocab: 64, categoryVocab: 8, priceBuckets: 4, gapBuckets: 4, textVocab: 32, textTokens: 2, useActions: true,
  maxLen: 8, dModel: 8, layers: 1, heads: 2, ffDim: 8, dropout: 0, numTiers: 2,
};

/** Events whose raw strings are distinctive enough to find anywhere in a byte stream. */
function merchantEvents(merchant: number): BehaviourEvent[] {
  const rng = seedrandom(`privacy-${merchant}`);
  const out: BehaviourEvent[] = [];
  for (let u = 0; u < 12; u++) {
    for (let e = 0; e < 10; e++) {
      const action = ACTIONS[Math.floor(rng() * ACTIONS.length)]!;
      out.push({
        userId: `secret-user-m${merchant}-u${u}`, timestamp: 1_700_000_000_000 + u * 1e7 + e * 60_000,
        itemId: `secret-sku-${merchant}-${Math.floor(rng() * 30)}`, categoryId: `secret-category-${Math.floor(rng() * 5)}`,
        action, price: Math.round(rng() * 500) / 10,
        text: action === 'search' || action === 'review' ? `confidential words about parcel ${u}${e}` : undefined,
      });
    }
  }
  return out;
}

describe('privacy: what a client emits during a round', function () {
  this.timeout(120_000);
  let dir: string;
  let coord: RunningCoordinator;
  const clients: FederatedClient[] = [];
  const captured: Array<{ client: number; message: ClientMessage }> = [];
  before(async () => { dir = tempDir('privacy'); coord = await startTestCoordinator(dir); });
  after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await coord.close();
    removeDir(dir);
  });

  it('contains no raw userId, itemId, categoryId, event or text, with the real profile-model trainer', async () => {
    const fed = await createFederation(coord.url, {
      name: 'privacy', model: SMALL_MODEL, rounds: 1, minClients: 2,
      strategy: { clientsPerRound: 2, minFitClients: 2, overSelection: 1, localEpochs: 1, batchSize: 8, learningRate: 0.01, evaluateEvery: 1 },
      deadlines: { trainMs: 90_000 },
    });
    const data = [merchantEvents(0), merchantEvents(1)];
    for (let i = 0; i < 2; i++) {
      const c = newClient(coord.url, await issueToken(coord.url, fed), undefined, `${dir}/m${i}`, {
        dataSource: data[i], hashKey: 'shared-merchant-secret', backend: 'wasm',
        onSend: (message) => captured.push({ client: i, message }),
      });
      clients.push(c);
    }
    await Promise.all(clients.map((c) => c.start()));
    await api(coord.url, 'POST', `/federations/${fed}/start`);
    const round = await waitFor('round 1 evaluated', async () => {
      const r = await api(coord.url, 'GET', `/federations/${fed}/rounds/1`);
      return r.status === 200 && (r.json.evalMetrics || r.json.status === 'failed') ? r.json : undefined;
    }, 110_000, 200);
    expect(round.status, round.reason).to.equal('completed');

    const types = new Set(captured.map((c) => c.message.type === 'agg' ? `agg:${c.message.aggType}` : c.message.type));
    expect([...types].sort()).to.deep.equal(['agg:plain/update', 'eval-result', 'fit-meta', 'model-get']);
    const wire = Buffer.concat(captured.map((c) => Buffer.from(encodeMessage(c.message))));
    const needles = new Set<string>();
    for (const events of data) {
      for (const e of events) {
        needles.add(e.userId); needles.add(e.itemId); needles.add(e.categoryId);
        if (e.text) { needles.add(e.text); for (const w of e.text.split(' ')) if (w.length > 4) needles.add(w); }
      }
    }
    needles.add('secret-'); needles.add('confidential');
    const found = [...needles].filter((n) => wire.includes(Buffer.from(n, 'utf8')));
    expect(found).to.deep.equal([]);
    // Also no whole event objects: no message carries event-shaped keys.
    for (const k of ['userId', 'itemId', 'categoryId', 'timestamp', 'events']) expect(wire.includes(Buffer.from(`"${k}"`))).to.equal(false);
    // The only vector a client sent is its delta, of exactly the model's size.
    const updates = captured.filter((c) => c.message.type === 'agg');
    expect(updates).to.have.length(2);
    for (const u of updates) {
      const p = (u.message as Extract<ClientMessage, { type: 'agg' }>).payload as { update: Float32Array; weight: number };
      expect(p.update.length).to.equal(round.metrics['agg.bytesIn'] / 2 / 4);
    }
  });

  it('profiles local users with the latest global model without sending anything', async () => {
    const before = captured.length;
    const events = merchantEvents(0).filter((e) => e.userId.endsWith('-u1') || e.userId.endsWith('-u2'));
    const profiles = await clients[0]!.profile(events);
    expect(profiles.map((p) => p.userKey).sort()).to.deep.equal(['secret-user-m0-u1', 'secret-user-m0-u2']);
    for (const p of profiles) {
      expect(UserProfileSchema.safeParse(p).success).to.equal(true);
      expect(p.nextItems.length).to.be.above(0);
      expect(p.propensity).to.be.within(0, 1);
    }
    const all = await clients[1]!.profileAll();
    expect(all).to.have.length(12);
    expect(captured.length).to.equal(before);
  });
});
