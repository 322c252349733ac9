import Database from 'better-sqlite3';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FedProfileError } from '../../shared/errors.js';
import type { FederationStatus } from '../../shared/round/types.js';
import { MIGRATIONS } from './migrations.js';

export interface FederationRow {
  id: string;
  name: string;
  config: unknown;
  status: FederationStatus;
  completedRounds: number;
  lastRound: number;
  modelHash: string;
  strategyState: unknown;
  createdAt: number;
  updatedAt: number;
  /** Why the federation is in its status, when the coordinator changed it (e.g. paused after failures). */
  statusReason: string | null;
  archivedAt: number | null;
}

export interface RoundRow {
  federationId: string;
  round: number;
  status: 'running' | 'completed' | 'failed' | 'interrupted';
  startedAt: number;
  finishedAt: number | null;
  participants: string[];
  contributors: string[] | null;
  modelHash: string | null;
  metrics: Record<string, number> | null;
  evalMetrics: Record<string, number> | null;
  reason: string | null;
}

export interface ClientRow {
  id: string; federationId: string; name: string | null; identityPublicKey: string; tokenId: string;
  createdAt: number; lastSeenAt: number | null;
  /** The last error the client reported (failed local training, unreadable data), with its round. */
  lastError: { message: string; round: number | null; at: number } | null;
}

export interface TokenRow {
  id: string; federationId: string; label: string | null; clientId: string | null; createdAt: number; revokedAt: number | null;
}

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

const json = (v: unknown): string | null => (v === undefined || v === null ? null : JSON.stringify(v));
const parse = <T>(s: unknown): T | null => (typeof s === 'string' ? JSON.parse(s) as T : null);

/**
 * The coordinator's durable state in one SQLite file (WAL, synchronous=FULL so a committed round survives
 * a power cut). Everything is synchronous: better-sqlite3 calls take microseconds for these row counts.
 */
export class CoordinatorStore {
  readonly db: Database.Database;

  constructor(readonly dataDir: string, file = 'fedprofile.sqlite') {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(join(dataDir, file));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
  }

  close(): void { this.db.close(); }

  schemaVersion(): number {
    const row = this.db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
    return row.v ?? 0;
  }

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    const current = this.schemaVersion();
    const known = Math.max(0, ...MIGRATIONS.map((m) => m.version));
    if (current > known) {
      throw new FedProfileError('CONFLICT', `the data dir's database is at schema version ${current}, newer than this coordinator (${known}); upgrade fedprofile`);
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
      })();
    }
  }

  // ---- federations ----

  createFederation(f: { id?: string; name: string; config: unknown; modelHash: string }, now = Date.now()): FederationRow {
    const id = f.id ?? randomUUID();
    this.db.prepare(`INSERT INTO federations (id, name, config, status, model_hash, created_at, updated_at)
      VALUES (?, ?, ?, 'created', ?, ?, ?)`).run(id, f.name, JSON.stringify(f.config), f.modelHash, now, now);
    return this.getFederation(id)!;
  }

  getFederation(id: string): FederationRow | undefined {
    const r = this.db.prepare('SELECT * FROM federations WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return r ? toFederation(r) : undefined;
  }

  listFederations(): FederationRow[] {
    return (this.db.prepare('SELECT * FROM federations ORDER BY created_at, id').all() as Record<string, unknown>[]).map(toFederation);
  }

  setFederationStatus(id: string, status: FederationStatus, now = Date.now(), reason: string | null = null): void {
    this.db.prepare('UPDATE federations SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?').run(status, reason, now, id);
  }

  /** Archived federations keep every row and checkpoint but leave the default listing; only idle ones qualify. */
  setArchived(id: string, archived: boolean, now = Date.now()): void {
    this.db.prepare('UPDATE federations SET archived_at = ?, updated_at = ? WHERE id = ?').run(archived ? now : null, now, id);
  }

  /** Removes a federation with its rounds, clients and tokens (the audit log keeps its history). */
  deleteFederation(id: string): boolean {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM rounds WHERE federation_id = ?').run(id);
      this.db.prepare('DELETE FROM clients WHERE federation_id = ?').run(id);
      this.db.prepare('DELETE FROM enrolment_tokens WHERE federation_id = ?').run(id);
      return this.db.prepare('DELETE FROM federations WHERE id = ?').run(id).changes === 1;
    })();
  }

  // ---- rounds ----

  startRound(federationId: string, round: number, participants: string[], now = Date.now()): void {
    this.db.transaction(() => {
      this.db.prepare(`INSERT INTO rounds (federation_id, round, status, started_at, participants) VALUES (?, ?, 'running', ?, ?)`)
        .run(federationId, round, now, JSON.stringify(participants));
      this.db.prepare('UPDATE federations SET last_round = MAX(last_round, ?), updated_at = ? WHERE id = ?').run(round, now, federationId);
    })();
  }

  /** The commit point of a round: after this returns, the round, its checkpoint hash and metrics are durable. */
  completeRound(args: {
    federationId: string; round: number; contributors: string[]; modelHash: string; metrics: Record<string, number>;
    strategyState: unknown; status?: FederationStatus;
  }, now = Date.now()): void {
    this.db.transaction(() => {
      const res = this.db.prepare(`UPDATE rounds SET status = 'completed', finished_at = ?, contributors = ?, model_hash = ?, metrics = ?
        WHERE federation_id = ? AND round = ? AND status = 'running'`)
        .run(now, JSON.stringify(args.contributors), args.modelHash, JSON.stringify(args.metrics), args.federationId, args.round);
      if (res.changes !== 1) throw new FedProfileError('CONFLICT', `round ${args.round} of ${args.federationId} is not running`);
      this.db.prepare(`UPDATE federations SET completed_rounds = completed_rounds + 1, model_hash = ?, strategy_state = ?,
        status = COALESCE(?, status), updated_at = ? WHERE id = ?`)
        .run(args.modelHash, json(args.strategyState), args.status ?? null, now, args.federationId);
    })();
  }

  failRound(federationId: string, round: number, reason: string, now = Date.now()): void {
    this.db.prepare(`UPDATE rounds SET status = 'failed', finished_at = ?, reason = ? WHERE federation_id = ? AND round = ? AND status = 'running'`)
      .run(now, reason, federationId, round);
  }

  setEvalMetrics(federationId: string, round: number, metrics: Record<string, number>): void {
    this.db.prepare('UPDATE rounds SET eval_metrics = ? WHERE federation_id = ? AND round = ?').run(JSON.stringify(metrics), federationId, round);
  }

  /** On start-up: rounds left 'running' by a crash are marked interrupted; their work is simply redone. */
  markInterruptedRounds(now = Date.now()): number {
    return this.db.prepare(`UPDATE rounds SET status = 'interrupted', finished_at = ?, reason = 'coordinator restarted mid-round'
      WHERE status = 'running'`).run(now).changes;
  }

  listRounds(federationId: string): RoundRow[] {
    return (this.db.prepare('SELECT * FROM rounds WHERE federation_id = ? ORDER BY round').all(federationId) as Record<string, unknown>[]).map(toRound);
  }

  getRound(federationId: string, round: number): RoundRow | undefined {
    const r = this.db.prepare('SELECT * FROM rounds WHERE federation_id = ? AND round = ?').get(federationId, round) as Record<string, unknown> | undefined;
    return r ? toRound(r) : undefined;
  }

  // ---- tokens and clients ----

  /** Returns the plain token once; only its SHA-256 is stored. */
  issueToken(federationId: string, label: string | undefined, now = Date.now()): { id: string; token: string } {
    const id = randomUUID();
    const token = `fpt_${randomBytes(24).toString('base64url')}`;
    this.db.prepare('INSERT INTO enrolment_tokens (id, federation_id, token_hash, label, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(id, federationId, hashToken(token), label ?? null, now);
    return { id, token };
  }

  revokeToken(federationId: string, tokenId: string, now = Date.now()): boolean {
    return this.db.prepare('UPDATE enrolment_tokens SET revoked_at = ? WHERE id = ? AND federation_id = ? AND revoked_at IS NULL')
      .run(now, tokenId, federationId).changes === 1;
  }

  listTokens(federationId: string): TokenRow[] {
    return (this.db.prepare('SELECT id, federation_id, label, client_id, created_at, revoked_at FROM enrolment_tokens WHERE federation_id = ? ORDER BY created_at')
      .all(federationId) as Record<string, unknown>[]).map((r) => ({
      id: r.id as string, federationId: r.federation_id as string, label: (r.label as string | null) ?? null,
      clientId: (r.client_id as string | null) ?? null, createdAt: r.created_at as number, revokedAt: (r.revoked_at as number | null) ?? null,
    }));
  }

  findToken(token: string): (TokenRow & { revoked: boolean }) | undefined {
    const r = this.db.prepare('SELECT * FROM enrolment_tokens WHERE token_hash = ?').get(hashToken(token)) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    return {
      id: r.id as string, federationId: r.federation_id as string, label: (r.label as string | null) ?? null,
      clientId: (r.client_id as string | null) ?? null, createdAt: r.created_at as number,
      revokedAt: (r.revoked_at as number | null) ?? null, revoked: r.revoked_at !== null,
    };
  }

  /** First enrolment binds a token to a new client id and its identity key; later ones must match the key. */
  enrolClient(tokenId: string, identityPublicKey: string, name: string | undefined, now = Date.now()): ClientRow {
    return this.db.transaction((): ClientRow => {
      const t = this.db.prepare('SELECT * FROM enrolment_tokens WHERE id = ?').get(tokenId) as Record<string, unknown>;
      if (t.client_id) {
        const c = this.getClient(t.client_id as string)!;
        if (c.identityPublicKey !== identityPublicKey) {
          throw new FedProfileError('FORBIDDEN', 'this enrolment token is bound to a different identity key; use the original work dir or ask for a new token');
        }
        this.db.prepare('UPDATE clients SET last_seen_at = ?, name = COALESCE(?, name) WHERE id = ?').run(now, name ?? null, c.id);
        return this.getClient(c.id)!;
      }
      const id = `c_${randomBytes(8).toString('hex')}`;
      this.db.prepare('INSERT INTO clients (id, federation_id, name, identity_public_key, token_id, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(id, t.federation_id, name ?? null, identityPublicKey, tokenId, now, now);
      this.db.prepare('UPDATE enrolment_tokens SET client_id = ? WHERE id = ?').run(id, tokenId);
      return this.getClient(id)!;
    })();
  }

  getClient(id: string): ClientRow | undefined {
    const r = this.db.prepare('SELECT * FROM clients WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return r ? toClient(r) : undefined;
  }

  listClients(federationId: string): ClientRow[] {
    return (this.db.prepare('SELECT * FROM clients WHERE federation_id = ? ORDER BY created_at, id').all(federationId) as Record<string, unknown>[]).map(toClient);
  }

  touchClient(id: string, now = Date.now()): void {
    this.db.prepare('UPDATE clients SET last_seen_at = ? WHERE id = ?').run(now, id);
  }

  recordClientError(id: string, message: string, round: number | null, now = Date.now()): void {
    this.db.prepare('UPDATE clients SET last_error = ?, last_error_round = ?, last_error_at = ? WHERE id = ?').run(message.slice(0, 1000), round, now, id);
  }

  /** The content hash of round 0's model, as recorded when the federation was created. */
  initialModelHash(federationId: string): string | undefined {
    const r = this.db.prepare(`SELECT details FROM audit_log WHERE federation_id = ? AND action = 'federation.create' ORDER BY id LIMIT 1`)
      .get(federationId) as { details: string | null } | undefined;
    const h = parse<{ modelHash?: unknown }>(r?.details)?.modelHash;
    return typeof h === 'string' ? h : undefined;
  }

  // ---- audit ----

  audit(actor: string, action: string, federationId: string | null, details?: Record<string, unknown>, now = Date.now()): void {
    this.db.prepare('INSERT INTO audit_log (at, actor, action, federation_id, details) VALUES (?, ?, ?, ?, ?)')
      .run(now, actor, action, federationId, json(details));
  }

  /** Audit entries of one action in one federation, oldest or newest first. */
  listAuditFor(federationId: string, action: string, limit: number, order: 'oldest' | 'newest', afterId = 0): Array<{ id: number; at: number; actor: string; details: unknown }> {
    const sql = `SELECT id, at, actor, details FROM audit_log WHERE federation_id = ? AND action = ? AND id > ? ORDER BY id ${order === 'oldest' ? 'ASC' : 'DESC'} LIMIT ?`;
    return (this.db.prepare(sql).all(federationId, action, afterId, limit) as Record<string, unknown>[]).map((r) => ({
      id: r.id as number, at: r.at as number, actor: r.actor as string, details: parse(r.details),
    }));
  }

  listAudit(limit = 100): Array<{ at: number; actor: string; action: string; federationId: string | null; details: unknown }> {
    return (this.db.prepare('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?').all(limit) as Record<string, unknown>[]).map((r) => ({
      at: r.at as number, actor: r.actor as string, action: r.action as string,
      federationId: (r.federation_id as string | null) ?? null, details: parse(r.details),
    }));
  }
}

function toFederation(r: Record<string, unknown>): FederationRow {
  return {
    id: r.id as string, name: r.name as string, config: JSON.parse(r.config as string), status: r.status as FederationStatus,
    completedRounds: r.completed_rounds as number, lastRound: r.last_round as number, modelHash: r.model_hash as string,
    strategyState: parse(r.strategy_state), createdAt: r.created_at as number, updatedAt: r.updated_at as number,
    statusReason: (r.status_reason as string | null) ?? null, archivedAt: (r.archived_at as number | null) ?? null,
  };
}

function toRound(r: Record<string, unknown>): RoundRow {
  return {
    federationId: r.federation_id as string, round: r.round as number, status: r.status as RoundRow['status'],
    startedAt: r.started_at as number, finishedAt: (r.finished_at as number | null) ?? null,
    participants: JSON.parse(r.participants as string) as string[], contributors: parse<string[]>(r.contributors),
    modelHash: (r.model_hash as string | null) ?? null, metrics: parse(r.metrics), evalMetrics: parse(r.eval_metrics),
    reason: (r.reason as string | null) ?? null,
  };
}

function toClient(r: Record<string, unknown>): ClientRow {
  return {
    id: r.id as string, federationId: r.federation_id as string, name: (r.name as string | null) ?? null,
    identityPublicKey: r.identity_public_key as string, tokenId: r.token_id as string,
    createdAt: r.created_at as number, lastSeenAt: (r.last_seen_at as number | null) ?? null,
    lastError: typeof r.last_error === 'string'
      ? { message: r.last_error, round: (r.last_error_round as number | null) ?? null, at: r.last_error_at as number }
      : null,
  };
}
