import { expect } from 'chai';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parameterCount } from '../../coordinator/model-limits.js';
import { registerServerAggregator, serverAggregatorFactory } from '../../shared/round/server-aggregators.js';
import { startCoordinator, type RunningCoordinator } from '../../coordinator/server.js';
import { BERT4REC_64, PROFILE_SMALL } from '../../shared/model/config.js';
import { weightSpecs } from '../../shared/model/profile-model.js';
import { TINY_MODEL } from '../runtime/fixtures/least-squares-trainer.js';
import { ADMIN, api, createFederation, issueToken, rawSocket, removeDir, silent, startTestCoordinator, tempDir, waitFor } from '../runtime/fixtures/harness.js';

const checkpointDirs = (dir: string): string[] => (existsSync(join(dir, 'checkpoints')) ? readdirSync(join(dir, 'checkpoints')) : []);

describe('federation configs are validated whole at creation', function () {
  this.timeout(30_000);
  let dir: string;
  let coord: RunningCoordinator;
  before(async () => { dir = tempDir('fedcfg'); coord = await startTestCoordinator(dir); });
  after(async () => { await coord.close(); removeDir(dir); });

  const base = { name: 'v', model: TINY_MODEL, rounds: 1 };
  const invalidSecAgg: Array<[string, Record<string, unknown>, RegExp]> = [
    ['clip -1', { clip: -1 }, /secureAggregation\.clip/],
    ['neighbors "x"', { neighbors: 'x' }, /secureAggregation\.neighbors/],
    ['maxWeight 0', { maxWeight: 0 }, /secureAggregation\.maxWeight/],
    ['an unknown key', { neighbours: 4 }, /neighbours/],
    ['threshold 1000', { threshold: 1000 }, /secureAggregation\.threshold/],
    ['threshold above neighbors', { neighbors: 4, threshold: 5 }, /cannot exceed neighbors/],
    ['threshold at half the neighbors', { neighbors: 8, threshold: 4 }, /greater than neighbors\/2/],
    ['a non-object', 'on' as unknown as Record<string, unknown>, /secureAggregation/],
    ['clip NaN-ish string', { clip: 'NaN' }, /secureAggregation\.clip/],
  ];
  for (const [what, secureAggregation, message] of invalidSecAgg) {
    it(`400 for secureAggregation with ${what}; nothing is written`, async () => {
      const before = checkpointDirs(dir).length;
      const r = await api(coord.url, 'POST', '/federations', { ...base, secureAggregation });
      expect(r.status).to.equal(400);
      expect(r.json.error.code).to.equal('BAD_INPUT');
      expect(r.json.error.message).to.match(message);
      expect(checkpointDirs(dir)).to.have.length(before);
    });
  }

  it('400 (not 500) for a 60,000-deep secureAggregation, with no orphan checkpoint directory', async () => {
    const deep = `${'{"a":'.repeat(60_000)}1${'}'.repeat(60_000)}`;
    const r = await api(coord.url, 'POST', '/federations', `{"name":"deep","model":${JSON.stringify(TINY_MODEL)},"rounds":1,"secureAggregation":${deep}}`);
    expect(r.status).to.equal(400);
    expect(r.json.error.message).to.match(/nests deeper than 32 levels/);
    expect(checkpointDirs(dir)).to.deep.equal([]);
  });

  it('refuses a 128M- and an 8.2G-parameter model from the config alone, quickly, while /healthz stays up', async () => {
    const huge = { ...PROFILE_SMALL, itemVocab: 2_000_000, dModel: 64 }; // 2M × 64 ≈ 128M parameters
    const giant = { ...PROFILE_SMALL, itemVocab: 2_000_000, dModel: 4096, heads: 64 }; // ≈ 8.2G
    for (const model of [huge, giant]) {
      const t0 = Date.now();
      const r = await api(coord.url, 'POST', '/federations', { ...base, model });
      expect(r.status).to.equal(400);
      expect(r.json.error.code).to.equal('BAD_CONFIG');
      expect(r.json.error.message).to.match(/parameters exceed this coordinator's limit of 25000000 \(raise it with --max-model-parameters\)/);
      expect(Date.now() - t0).to.be.below(1000);
    }
    expect((await fetch(`${coord.url}/healthz`)).status).to.equal(200);
    expect(checkpointDirs(dir)).to.deep.equal([]);
  });

  it('a valid SecAgg+ config is accepted, with its defaults filled in', async () => {
    const r = await api(coord.url, 'POST', '/federations', { ...base, strategy: { clientsPerRound: 3, minFitClients: 3 }, secureAggregation: { neighbors: 4, threshold: 3, clip: 0.5 } });
    expect(r.status).to.equal(201);
    expect(r.json.config.secureAggregation).to.deep.include({ neighbors: 4, threshold: 3, clip: 0.5, maxWeight: 1000 });
    expect(r.json.config.updateBounds).to.deep.equal({ maxAbs: 1000, maxL2Norm: 100000, maxWeight: 1000000, maxModelAbs: 10000 });
  });
});

describe('model size limits', function () {
  this.timeout(30_000);

  it('parameterCount (arithmetic, no allocation) equals the model\'s real weight specs', () => {
    for (const cfg of [TINY_MODEL, PROFILE_SMALL, BERT4REC_64, { ...PROFILE_SMALL, textTokens: 0, useActions: false, categoryVocab: 2 }, { ...PROFILE_SMALL, transitionItems: 100 }]) {
      const real = weightSpecs(cfg).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
      expect(parameterCount(cfg)).to.equal(real);
    }
  });

  it('the operator can lower or raise the limits', async () => {
    const dir = tempDir('limits');
    const small = await startCoordinator({ port: 0, dataDir: dir, adminToken: ADMIN, logger: silent, limits: { maxParameters: 200 } });
    try {
      const r = await api(small.url, 'POST', '/federations', { name: 'x', model: TINY_MODEL, rounds: 1 });
      expect(r.status).to.equal(400);
      expect(r.json.error.message).to.match(/341 parameters exceed this coordinator's limit of 200/);
      const bytes = await startCoordinator({ port: 0, dataDir: tempDir('limits2'), adminToken: ADMIN, logger: silent, limits: { maxBytes: 900 } });
      const b = await api(bytes.url, 'POST', '/federations', { name: 'x', model: TINY_MODEL, rounds: 1 });
      expect(b.json.error.message).to.match(/1364 bytes of weights exceed this coordinator's limit of 900 bytes/);
      await bytes.close();
    } finally {
      await small.close();
      removeDir(dir);
    }
  });
});

describe('an exception in one federation\'s round never takes the coordinator down', function () {
  this.timeout(30_000);
  let dir: string;
  let coord: RunningCoordinator;
  before(async () => { dir = tempDir('fault'); coord = await startTestCoordinator(dir); });
  after(async () => { await coord.close(); removeDir(dir); });

  it('a round whose aggregator throws pauses that federation only; the process serves on, and a restart does not crash-loop', async () => {
    const bad = await createFederation(coord.url, { name: 'bad', model: TINY_MODEL, rounds: 2, strategy: { clientsPerRound: 2, minFitClients: 2 } });
    const good = await createFederation(coord.url, { name: 'good', model: TINY_MODEL, rounds: 1 });
    const original = serverAggregatorFactory('plain')!;
    registerServerAggregator('plain', () => { throw new Error('aggregator exploded'); });
    const sockets = [];
    try {
      expect((await api(coord.url, 'POST', `/federations/${bad}/start`)).status).to.equal(200);
      for (let i = 0; i < 2; i++) sockets.push(await rawSocket(coord.url, await issueToken(coord.url, bad)));
      const paused = await waitFor('federation paused with a reason', async () => {
        const r = await api(coord.url, 'GET', `/federations/${bad}`);
        return r.json.status === 'paused' ? r.json : undefined;
      });
      // The round engine catches a factory that throws: it pauses the federation and says why.
      expect(paused.statusReason ?? paused.attention?.reason).to.match(/aggregator exploded/);
    } finally {
      registerServerAggregator('plain', original);
      for (const s of sockets) s.close();
    }
    expect((await fetch(`${coord.url}/healthz`)).status).to.equal(200);
    expect((await api(coord.url, 'POST', `/federations/${good}/start`)).json.status).to.equal('running');
    await coord.close();
    coord = await startTestCoordinator(dir);
    expect((await api(coord.url, 'GET', `/federations/${bad}`)).json.status).to.equal('paused');
    expect((await api(coord.url, 'GET', `/federations/${good}`)).json.status).to.equal('running');
  });

  it('a stored SecAgg+ config this version refuses (clip -1, as older coordinators accepted) sets aside that federation only', async () => {
    const sa = await createFederation(coord.url, { name: 'sa', model: TINY_MODEL, rounds: 1, strategy: { clientsPerRound: 3, minFitClients: 3 }, secureAggregation: { clip: 1 } });
    expect((await api(coord.url, 'POST', `/federations/${sa}/start`)).status).to.equal(200);
    await coord.close();
    const db = new Database(join(dir, 'fedprofile.sqlite'));
    db.prepare(`UPDATE federations SET config = json_set(config, '$.secureAggregation.clip', -1) WHERE id = ?`).run(sa);
    db.close();
    coord = await startTestCoordinator(dir);
    const r = await api(coord.url, 'GET', `/federations/${sa}`);
    expect(r.status).to.equal(200);
    expect(r.json.status).to.equal('needs-attention');
    expect(r.json.attention.reason).to.match(/secureAggregation\.clip/);
    const list = (await api(coord.url, 'GET', '/federations')).json.federations as Array<{ id: string; status: string }>;
    expect(list.find((f) => f.id === sa)!.status).to.equal('needs-attention');
    expect(list.filter((f) => f.status !== 'needs-attention').length).to.be.greaterThan(0);
    expect((await api(coord.url, 'POST', `/federations/${sa}/start`)).status).to.equal(409);
  });
});
