import { expect } from 'chai';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { join } from 'node:path';
import type { FederatedClient } from '../../client-sdk/federated-client.js';
import { apiRouter, type ApiDeps } from '../../coordinator/api.js';
import { openApiDocument } from '../../coordinator/openapi.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { LeastSquaresTrainer, TINY_MODEL, TINY_DIM } from '../runtime/fixtures/least-squares-trainer.js';
import { ADMIN, issueToken, newClient, removeDir, startTestCoordinator, tempDir, waitFor } from '../runtime/fixtures/harness.js';

const DIM = TINY_DIM;
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;

interface Doc { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }>> }
const doc = openApiDocument() as unknown as Doc;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** Every route the operator router registers, as OpenAPI templates: "/federations/{id}" and its methods. */
function expressRoutes(): Array<{ path: string; method: string }> {
  const router = apiRouter({ adminToken: 'route-listing-only' } as ApiDeps) as unknown as { stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }> };
  return router.stack.flatMap((l) => (l.route ? Object.keys(l.route.methods).map((m) => ({ path: l.route!.path.replace(/:(\w+)/g, '{$1}'), method: m })) : []));
}

const templates = Object.keys(doc.paths).map((t) => ({ t, re: new RegExp(`^${t.replace(/[.]/g, '\\.').replace(/\{\w+\}/g, '[^/]+')}$`) }));
const templateOf = (path: string): string | undefined => templates.find((x) => x.re.test(path.split('?')[0]!))?.t;
const pointer = (...parts: string[]): string => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

describe('OpenAPI document matches the API', function () {
  this.timeout(30_000);
  let dir: string;
  let coord: RunningCoordinator;
  const clients: FederatedClient[] = [];
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ ...doc, $id: 'spec' });
  const exercised = new Set<string>();

  /** Calls the coordinator and checks the status is documented for that operation and the body matches its schema. */
  async function call(method: string, path: string, body?: unknown, token: string | null = ADMIN): Promise<{ status: number; json: any }> {
    const root = path === '/healthz' || path === '/metrics';
    const res = await fetch(`${coord.url}${root ? '' : '/api/v1'}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const template = templateOf(path);
    expect(template, `${method} ${path} is in the spec`).to.be.a('string');
    const m = method.toLowerCase();
    const response = doc.paths[template!]![m]?.responses[String(res.status)];
    expect(response, `${method} ${template} documents status ${res.status}`).to.not.equal(undefined);
    exercised.add(`${m} ${template} ${res.status}`);
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!;
    expect(Object.keys(response!.content ?? {}), `${method} ${template} ${res.status} documents ${type}`).to.include(type);
    if (type !== 'application/json') { await res.arrayBuffer(); return { status: res.status, json: undefined }; }
    const json: unknown = await res.json();
    const validate = ajv.getSchema(`spec#/${pointer('paths', template!, m, 'responses', String(res.status), 'content', 'application/json', 'schema')}`)!;
    expect(validate(json), `${method} ${path} ${res.status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(json).slice(0, 600)}`).to.equal(true);
    return { status: res.status, json };
  }

  before(async () => { dir = tempDir('openapi'); coord = await startTestCoordinator(dir); });
  after(async () => {
    await Promise.all(clients.splice(0).map((c) => c.stop()));
    await coord.close();
    removeDir(dir);
  });

  it('documents every route the express router serves, plus /healthz and /metrics, and nothing it does not serve', () => {
    const served = expressRoutes().map((r) => `${r.method} ${r.path}`).sort();
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).filter((k) => METHODS.includes(k)).map((m) => `${m} ${p}`));
    expect(served.length).to.be.greaterThan(15);
    expect(served.filter((r) => !documented.includes(r)), 'routes missing from the spec').to.deep.equal([]);
    expect(documented.filter((d) => !served.includes(d)).sort(), 'spec entries served outside the router').to.deep.equal(['get /healthz', 'get /metrics']);
    // No operation falls back to a bare { type: object } response.
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, o] of Object.entries(ops)) {
        for (const [status, r] of Object.entries(o.responses)) {
          const schema = r.content?.['application/json']?.schema as Record<string, unknown> | undefined;
          if (schema && p !== '/openapi.json') expect(schema, `${m} ${p} ${status}`).to.have.property('$ref');
        }
      }
    }
  });

  it('every response of a real federation\'s life validates against its documented status and schema', async () => {
    await call('GET', '/openapi.json', undefined, null);
    await call('GET', '/healthz', undefined, null);
    await call('GET', '/metrics', undefined, null);
    expect((await call('GET', '/federations', undefined, null)).status).to.equal(401);
    expect((await call('GET', '/federations', undefined, 'wrong-token-wrong-token')).status).to.equal(403);
    expect((await call('POST', '/federations', { name: 'x', rounds: 0, model: TINY_MODEL })).status).to.equal(400);
    expect((await call('POST', '/federations', { name: 'x'.repeat(2_000_000) })).status).to.equal(413);
    const created = await call('POST', '/federations', {
      name: 'spec', model: TINY_MODEL, seed: 1, rounds: 1,
      strategy: { clientsPerRound: 2, minFitClients: 2, overSelection: 1, learningRate: 0.05, optimizer: 'sgd', evaluateEvery: 1 },
      deadlines: { trainMs: 10_000 },
    });
    expect(created.status).to.equal(201);
    const id = created.json.id as string;
    expect((await call('GET', `/federations/${id}/rounds/1`)).status).to.equal(404);
    expect((await call('GET', `/federations/${id}/rounds/x`)).status).to.equal(400);
    expect((await call('GET', '/federations?archived=sometimes')).status).to.equal(400);
    expect((await call('POST', `/federations/${id}/tokens`, { label: 7 })).status).to.equal(400);
    const issued = await call('POST', `/federations/${id}/tokens`, { label: 'merchant-a' });
    expect(issued.status).to.equal(201);
    const second = await issueToken(coord.url, id, 'merchant-b');
    clients.push(newClient(coord.url, issued.json.token, new LeastSquaresTrainer(DIM, 5, 'a'), join(dir, 'a'), { name: 'merchant-a' }));
    clients.push(newClient(coord.url, second, new LeastSquaresTrainer(DIM, 9, 'b'), join(dir, 'b'), { name: 'merchant-b' }));
    await Promise.all(clients.map((c) => c.start()));
    expect((await call('POST', `/federations/${id}/resume`)).status).to.equal(409);
    await call('POST', `/federations/${id}/start`);
    await waitFor('round evaluated', async () => (await call('GET', `/federations/${id}/rounds/1`)).json.evalMetrics);
    const fed = await call('GET', `/federations/${id}`);
    expect(fed.json.roundProgress.clients).to.not.deep.equal({});
    await call('GET', '/federations');
    await call('GET', `/federations/${id}/rounds`);
    await call('GET', `/federations/${id}/rounds/latest/model.json`);
    await call('GET', `/federations/${id}/rounds/1/weights.bin`);
    const listed = await call('GET', `/federations/${id}/clients`);
    expect(listed.json.clients).to.have.length(2);
    await call('GET', `/federations/${id}/tokens`);
    expect((await call('DELETE', `/federations/${id}/tokens/nope`)).status).to.equal(404);
    await call('DELETE', `/federations/${id}/tokens/${issued.json.id}`);
    await call('DELETE', `/federations/${id}/key-check`);
    await call('GET', '/audit?limit=5');
    await call('POST', `/federations/${id}/archive`);
    expect((await call('POST', `/federations/${id}/archive`)).status).to.equal(409);
    await call('POST', `/federations/${id}/unarchive`);
    const other = (await call('POST', '/federations', { name: 'other', model: TINY_MODEL, rounds: 3 })).json.id as string;
    await call('POST', `/federations/${other}/start`);
    expect((await call('DELETE', `/federations/${other}`)).status).to.equal(409);
    await call('POST', `/federations/${other}/pause`);
    await call('POST', `/federations/${other}/resume`);
    await call('POST', `/federations/${other}/stop`);
    await call('DELETE', `/federations/${other}`);
    expect((await call('GET', `/federations/${other}`)).status).to.equal(404);
    // Every operation was exercised with its success status.
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, o] of Object.entries(ops)) {
        const ok = Object.keys(o.responses).find((s) => s.startsWith('2'))!;
        expect(exercised.has(`${m} ${p} ${ok}`), `${m} ${p} ${ok} exercised`).to.equal(true);
      }
    }
  });
});
