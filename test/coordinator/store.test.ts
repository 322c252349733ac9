import { expect } from 'chai';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { CoordinatorStore, hashToken } from '../../coordinator/store/store.js';
import { MIGRATIONS } from '../../coordinator/store/migrations.js';
import { removeDir, tempDir } from '../runtime/fixtures/harness.js';

describe('coordinator store (real SQLite file)', () => {
  let dir: string;
  beforeEach(() => { dir = tempDir('store'); });
  afterEach(() => removeDir(dir));

  it('migrates a fresh data dir to the latest schema once, in WAL mode, and reopens idempotently', () => {
    const s = new CoordinatorStore(dir);
    expect(s.schemaVersion()).to.equal(MIGRATIONS.at(-1)!.version);
    expect(s.db.pragma('journal_mode', { simple: true })).to.equal('wal');
    s.close();
    const again = new CoordinatorStore(dir);
    const applied = again.db.prepare('SELECT COUNT(*) AS n FROM schema_migrations').get() as { n: number };
    expect(applied.n).to.equal(MIGRATIONS.length);
    again.close();
  });

  it('refuses a database from a newer fedprofile with an actionable message', () => {
    new CoordinatorStore(dir).close();
    const raw = new Database(join(dir, 'fedprofile.sqlite'));
    raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, ?, 0)').run('future');
    raw.close();
    expect(() => new CoordinatorStore(dir)).to.throw(/schema version 99, newer than this coordinator.*upgrade/);
  });

  it('stores only token hashes, binds a token to its first identity key and refuses another key', () => {
    const s = new CoordinatorStore(dir);
    s.createFederation({ id: 'f', name: 'n', config: {}, modelHash: 'a'.repeat(64) });
    const { id, token } = s.issueToken('f', 'shop');
    const row = s.db.prepare('SELECT token_hash FROM enrolment_tokens WHERE id = ?').get(id) as { token_hash: string };
    expect(row.token_hash).to.equal(hashToken(token)).and.not.include(token);
    const c1 = s.enrolClient(id, 'KEY1', 'shop-a');
    const c2 = s.enrolClient(id, 'KEY1', undefined);
    expect(c2.id).to.equal(c1.id);
    expect(() => s.enrolClient(id, 'KEY2', undefined)).to.throw(/bound to a different identity key/);
    expect(s.revokeToken('f', id)).to.equal(true);
    expect(s.findToken(token)!.revoked).to.equal(true);
    s.close();
  });

  it('commits a round atomically and marks rounds left running by a crash as interrupted', () => {
    const s = new CoordinatorStore(dir);
    s.createFederation({ id: 'f', name: 'n', config: {}, modelHash: '0'.repeat(64) });
    s.startRound('f', 1, ['a', 'b']);
    s.completeRound({ federationId: 'f', round: 1, contributors: ['a', 'b'], modelHash: '1'.repeat(64), metrics: { loss: 0.5 }, strategyState: { k: 1 } });
    expect(() => s.completeRound({ federationId: 'f', round: 1, contributors: [], modelHash: '2'.repeat(64), metrics: {}, strategyState: null }))
      .to.throw(/not running/);
    s.startRound('f', 2, ['a']);
    s.close();
    const re = new CoordinatorStore(dir);
    expect(re.markInterruptedRounds()).to.equal(1);
    const f = re.getFederation('f')!;
    expect(f).to.deep.include({ completedRounds: 1, lastRound: 2, modelHash: '1'.repeat(64) });
    expect(f.strategyState).to.deep.equal({ k: 1 });
    expect(re.listRounds('f').map((r) => r.status)).to.deep.equal(['completed', 'interrupted']);
    re.close();
  });
});
