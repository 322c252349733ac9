import { expect } from 'chai';
import { io, type Socket } from 'socket.io-client';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { TINY_MODEL } from '../runtime/fixtures/least-squares-trainer.js';
import { api, createFederation, issueToken, rawSocket, removeDir, startTestCoordinator, tempDir, waitFor } from '../runtime/fixtures/harness.js';

/** Connects with a fixed handshake object (what an eavesdropper replays); resolves with the outcome. */
function connectWith(url: string, auth: Record<string, unknown>): Promise<{ ok: boolean; error?: { code?: string; message?: string }; socket: Socket }> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, auth });
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ ok: true, socket }));
    socket.once('connect_error', (e) => resolve({ ok: false, error: (e as Error & { data?: { code?: string; message?: string } }).data, socket }));
  });
}

describe('client sessions: a handshake bound to its connection, revocation that takes effect at once', function () {
  this.timeout(30_000);
  let dir: string;
  let coord: RunningCoordinator;
  let fed: string;
  before(async () => {
    dir = tempDir('auth');
    coord = await startTestCoordinator(dir);
    fed = await createFederation(coord.url, { name: 'auth', model: TINY_MODEL, rounds: 1 });
  });
  after(async () => { await coord.close(); removeDir(dir); });

  it('a captured handshake replayed from another socket within seconds cannot log in, and the original stays connected', async () => {
    const token = await issueToken(coord.url, fed);
    const original = await rawSocket(coord.url, token);
    // The handshake exactly as the original client put it on the wire, replayed verbatim.
    expect(original.handshake.signature).to.be.a('string');
    const attempt = await connectWith(coord.url, original.handshake);
    expect(attempt.ok).to.equal(false);
    expect(attempt.error?.code).to.equal('UNAUTHORIZED');
    expect(attempt.error?.message).to.match(/does not verify .* for this connection/);
    attempt.socket.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(original.socket.connected).to.equal(true);
    const clients = (await api(coord.url, 'GET', `/federations/${fed}/clients`)).json.clients as Array<{ online: boolean }>;
    expect(clients.filter((c) => c.online)).to.have.length(1);
    original.close();
  });

  it('revoking a token disconnects its live session at once, and it cannot reconnect', async () => {
    const token = await issueToken(coord.url, fed);
    const live = await rawSocket(coord.url, token);
    const other = await rawSocket(coord.url, await issueToken(coord.url, fed));
    const tokens = (await api(coord.url, 'GET', `/federations/${fed}/tokens`)).json.tokens as Array<{ id: string; clientId: string | null }>;
    const clientId = live.received.find((m) => m.type === 'welcome')!;
    const row = tokens.find((t) => t.clientId === (clientId as { clientId: string }).clientId)!;
    const t0 = Date.now();
    const r = await api(coord.url, 'DELETE', `/federations/${fed}/tokens/${row.id}`);
    expect(r.json).to.deep.equal({ revoked: true, disconnected: 1 });
    await waitFor('revoked socket disconnected', () => !live.socket.connected, 2000, 10);
    expect(Date.now() - t0).to.be.below(1000);
    expect(other.socket.connected).to.equal(true);
    await rawSocket(coord.url, token).then(() => expect.fail('a revoked token reconnected'), (e: Error) => expect(e.message).to.match(/revoked/));
    other.close();
  });
});
