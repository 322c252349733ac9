import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { api, createFederation, issueToken, removeDir, startTestCoordinator, tempDir, waitFor } from '../runtime/fixtures/harness.js';

const BIN = join(process.cwd(), 'bin/fedprofile.js');
const MODEL = {
  itemVocab: 64, categoryVocab: 8, priceBuckets: 0, gapBuckets: 0, textVocab: 0, textTokens: 0, useActions: true,
  maxLen: 8, dModel: 8, layers: 1, heads: 1, ffDim: 8, dropout: 0, numTiers: 2,
};

function client(args: string[]): { child: ChildProcess; stderr: () => string; exit: Promise<number | null> } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FEDPROFILE_')));
  const child = spawn(process.execPath, [BIN, 'client', '--quiet', '--backend', 'cpu', ...args], { env });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  child.stdout!.resume();
  return { child, stderr: () => err, exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
}

describe('fedprofile client as a process: it speaks (issue item 5)', function () {
  this.timeout(60_000);
  let dir: string;
  let events: string;
  const children: ChildProcess[] = [];
  beforeEach(() => {
    dir = tempDir('client-cli');
    events = join(dir, 'events.jsonl');
    const lines = [];
    for (let u = 0; u < 6; u++) for (let i = 0; i < 5; i++) lines.push(JSON.stringify({ userId: `u${u}`, timestamp: 1000 * (i + 1), itemId: `sku-${i}`, categoryId: 'c1', action: 'view' }));
    writeFileSync(events, `${lines.join('\n')}\n`);
  });
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    removeDir(dir);
  });

  it('prints the URL and the reason while it cannot connect', async () => {
    const c = client(['--coordinator', 'http://127.0.0.1:9', '--token', 'fpt_unused-token', '--hash-key', 'shared-key-1', '--data', events, '--work-dir', join(dir, 'w')]);
    children.push(c.child);
    await waitFor('a connection report', () => c.stderr().includes('cannot reach'), 20_000);
    expect(c.stderr()).to.match(/fedprofile client: cannot reach http:\/\/127\.0\.0\.1:9: .*ECONNREFUSED.*; retrying \(attempt \d+\)/);
  });

  it('says the federation was stopped and exits 0', async () => {
    let coord: RunningCoordinator | undefined;
    try {
      coord = await startTestCoordinator(join(dir, 'coord'));
      const fed = await createFederation(coord.url, {
        name: 'cli', model: MODEL, seed: 1, rounds: 3,
        strategy: { name: 'fedavg', clientsPerRound: 2, minFitClients: 2, localEpochs: 1, learningRate: 0.05, optimizer: 'sgd' },
      });
      const c = client(['--coordinator', coord.url, '--token', await issueToken(coord.url, fed, 'cli'), '--hash-key', 'shared-key-1', '--data', events, '--work-dir', join(dir, 'w')]);
      children.push(c.child);
      await waitFor('the client to join', () => c.stderr().includes('joined federation'), 30_000);
      await api(coord.url, 'POST', `/federations/${fed}/start`);
      await api(coord.url, 'POST', `/federations/${fed}/stop`);
      expect(await c.exit).to.equal(0);
      expect(c.stderr()).to.contain(`fedprofile client: federation ${fed} was stopped after 0 rounds; exiting`);
    } finally {
      await coord?.close();
    }
  });
});
