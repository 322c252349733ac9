import { expect } from 'chai';
import { request } from 'node:http';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { ADMIN, removeDir, startTestCoordinator, tempDir } from '../runtime/fixtures/harness.js';

/** A raw HTTP request (fetch would normalise the path and the encodings under test). */
function raw(url: string, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; json: any }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { authorization: `Bearer ${ADMIN}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let json: unknown;
        try { json = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('HTTP API: client mistakes get 4xx, never 500', function () {
  this.timeout(20_000);
  let dir: string;
  let coord: RunningCoordinator;
  before(async () => { dir = tempDir('http'); coord = await startTestCoordinator(dir); });
  after(async () => { await coord.close(); removeDir(dir); });

  for (const path of ['/api/v1/federations/%E0%A4%A', '/api/v1/federations/%', '/api/v1/federations/%C0%AF', '/api/v1/federations/x/rounds/%FF/weights.bin']) {
    it(`400 BAD_INPUT for malformed percent-encoding: ${path}`, async () => {
      const r = await raw(coord.url, 'GET', path, {});
      expect(r.status).to.equal(400);
      expect(r.json.error.code).to.equal('BAD_INPUT');
      expect(r.json.error.message).to.match(/percent-encoding/);
    });
  }

  const body = Buffer.from(JSON.stringify({ name: 'x' }));
  for (const encoding of ['br', 'gzip', 'deflate', 'x-unknown']) {
    it(`415 for a body whose content-encoding is ${encoding} but is not`, async () => {
      const r = await raw(coord.url, 'POST', '/api/v1/federations', { 'content-type': 'application/json', 'content-encoding': encoding }, body);
      expect(r.status).to.equal(415);
      expect(r.json.error.code).to.equal('BAD_INPUT');
    });
  }

  it('the coordinator still serves after all of them', async () => {
    const r = await raw(coord.url, 'GET', '/healthz', {});
    expect(r.status).to.equal(200);
    expect(r.json.status).to.equal('ok');
  });
});
