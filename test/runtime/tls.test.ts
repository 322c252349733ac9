import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCoordinator, type RunningCoordinator } from '../../coordinator/server.js';
import { LeastSquaresTrainer, TINY_MODEL, TINY_DIM } from './fixtures/least-squares-trainer.js';
import { ADMIN, newClient, removeDir, silent, tempDir } from './fixtures/harness.js';

describe('TLS: HTTPS API and WSS client socket', function () {
  this.timeout(30_000);
  let dir: string;
  let coord: RunningCoordinator;
  let ca: Buffer;
  before(async function () {
    dir = tempDir('tls');
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    } catch {
      this.skip(); // no openssl binary to make a test certificate
    }
    ca = readFileSync(cert);
    coord = await startCoordinator({ port: 0, dataDir: join(dir, 'data'), adminToken: ADMIN, logger: silent, tls: { cert, key } });
  });
  after(async () => { await coord?.close(); removeDir(dir); });

  it('serves the API over https and enrols a client over wss with a trusted CA', async () => {
    expect(coord.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    const { request } = await import('node:https');
    const call = (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => new Promise((resolve, reject) => {
      const req = request(`${coord.url}/api/v1${path}`, { method, ca, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => { text += d.toString(); });
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
    const fed = await call('POST', '/federations', { name: 'tls', model: TINY_MODEL, rounds: 1 });
    expect(fed.status).to.equal(201);
    const tok = await call('POST', `/federations/${fed.json.id}/tokens`, {});
    const client = newClient(coord.url, tok.json.token, new LeastSquaresTrainer(TINY_DIM, 3, 't'), join(dir, 'c'), { ca });
    try {
      const who = await client.start();
      expect(who.federationId).to.equal(fed.json.id);
    } finally {
      await client.stop();
    }
  });

  it('a client without the CA says the certificate is not trusted, instead of waiting silently', async () => {
    const client = newClient(coord.url, 'fpt_whatever-token', new LeastSquaresTrainer(TINY_DIM, 3, 't'), join(dir, 'untrusted'));
    const reasons: string[] = [];
    client.on('connect-failed', (f) => reasons.push(`${f.url} ${f.reason}`));
    void client.start().catch(() => undefined);
    try {
      const end = Date.now() + 10_000;
      while (reasons.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect(reasons[0]).to.match(new RegExp(`^${coord.url.replace(/\./g, '\\.')} .*(self[- ]signed|certificate)`, 'i'));
    } finally {
      await client.stop();
    }
  });
});
