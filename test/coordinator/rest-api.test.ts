import { expect } from 'chai';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { TINY_MODEL, TINY_DIM } from '../runtime/fixtures/least-squares-trainer.js';
import { api, removeDir, startTestCoordinator, tempDir } from '../runtime/fixtures/harness.js';

describe('operator REST API', function () {
  this.timeout(30_000);
  let dir: string;
  let coord: RunningCoordinator;
  before(async () => { dir = tempDir('rest'); coord = await startTestCoordinator(dir); });
  after(async () => { await coord.close(); removeDir(dir); });

  it('401 without a token, 403 with a wrong one, JSON error bodies', async () => {
    const none = await api(coord.url, 'GET', '/federations', undefined, null);
    expect(none.status).to.equal(401);
    expect(none.json.error).to.include({ code: 'UNAUTHORIZED' });
    const wrong = await api(coord.url, 'GET', '/federations', undefined, 'not-the-admin-token');
    expect(wrong.status).to.equal(403);
    expect(wrong.json.error.code).to.equal('FORBIDDEN');
  });

  it('400 with field paths for an invalid federation config, and for a body that is not JSON', async () => {
    const r = await api(coord.url, 'POST', '/federations', {
      name: 'x', rounds: 0, model: { ...TINY_MODEL, heads: 3 }, strategy: { name: 'fedsgd', clientsPerRound: 2, minFitClients: 5 },
    });
    expect(r.status).to.equal(400);
    expect(r.json.error.code).to.equal('BAD_INPUT');
    const paths = (r.json.error.details.issues as Array<{ path: string }>).map((i) => i.path);
    expect(paths).to.include.members(['rounds', 'model.heads', 'strategy.name']);
    expect(r.json.error.message).to.match(/rounds: .*>=1/);
    const bad = await api(coord.url, 'POST', '/federations', '{"name": ');
    expect(bad.status).to.equal(400);
    expect(bad.json.error.message).to.match(/not valid JSON/);
    const typo = await api(coord.url, 'POST', '/federations', { name: 'x', rounds: 1, model: TINY_MODEL, clientPerRound: 3 });
    expect(typo.status).to.equal(400);
    expect(typo.json.error.message).to.match(/clientPerRound/);
  });

  it('creates, lists, controls a federation; 404 and 409 where due; health, metrics and OpenAPI are served', async () => {
    const c = await api(coord.url, 'POST', '/federations', { name: 'ok', model: TINY_MODEL, rounds: 2 });
    expect(c.status).to.equal(201);
    expect(c.json).to.include({ status: 'created', completedRounds: 0, parameters: TINY_DIM });
    expect(c.json.modelHash).to.match(/^[0-9a-f]{64}$/);
    const id = c.json.id as string;
    expect((await api(coord.url, 'GET', '/federations')).json.federations.map((f: { id: string }) => f.id)).to.include(id);
    expect((await api(coord.url, 'POST', `/federations/${id}/resume`)).status).to.equal(409);
    expect((await api(coord.url, 'POST', `/federations/${id}/start`)).json.status).to.equal('running');
    expect((await api(coord.url, 'POST', `/federations/${id}/pause`)).json.status).to.equal('paused');
    expect((await api(coord.url, 'POST', `/federations/${id}/stop`)).json.status).to.equal('stopped');
    expect((await api(coord.url, 'GET', '/federations/nope')).status).to.equal(404);
    expect((await api(coord.url, 'GET', `/federations/${id}/rounds/7`)).status).to.equal(404);
    expect((await api(coord.url, 'GET', `/federations/${id}/rounds/x/weights.bin`)).status).to.equal(400);
    const w0 = await api(coord.url, 'GET', `/federations/${id}/rounds/0/weights.bin`);
    expect(w0.bytes.byteLength).to.equal(TINY_DIM * 4);
    expect((await fetch(`${coord.url}/healthz`)).status).to.equal(200);
    expect(await (await fetch(`${coord.url}/metrics`)).text()).to.include('fedprofile_round_duration_seconds');
    const doc = await (await fetch(`${coord.url}/api/v1/openapi.json`)).json() as { openapi: string; paths: Record<string, unknown>; components: { schemas: { FederationConfig: { properties: Record<string, unknown> } } } };
    expect(doc.openapi).to.equal('3.1.0');
    expect(Object.keys(doc.paths)).to.include('/federations/{id}/tokens');
    expect(Object.keys(doc.components.schemas.FederationConfig.properties)).to.include.members(['model', 'strategy', 'deadlines', 'secureAggregation']);
    const audit = (await api(coord.url, 'GET', '/audit')).json.entries.map((e: { action: string }) => e.action);
    expect(audit).to.include.members(['federation.create', 'federation.start', 'federation.pause', 'federation.stop']);
  });
});
