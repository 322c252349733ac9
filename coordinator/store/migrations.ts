/**
 * Schema migrations, applied in order inside one transaction each; `schema_migrations` records which ran.
 * Append only: never edit a migration that may already be applied somewhere.
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE federations (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        config TEXT NOT NULL,
        status TEXT NOT NULL,
        completed_rounds INTEGER NOT NULL DEFAULT 0,
        last_round INTEGER NOT NULL DEFAULT 0,
        model_hash TEXT NOT NULL,
        strategy_state TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE rounds (
        federation_id TEXT NOT NULL REFERENCES federations(id),
        round INTEGER NOT NULL,
        status TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        participants TEXT NOT NULL,
        contributors TEXT,
        model_hash TEXT,
        metrics TEXT,
        eval_metrics TEXT,
        reason TEXT,
        PRIMARY KEY (federation_id, round)
      );
      CREATE TABLE clients (
        id TEXT PRIMARY KEY,
        federation_id TEXT NOT NULL REFERENCES federations(id),
        name TEXT,
        identity_public_key TEXT NOT NULL,
        token_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER
      );
      CREATE TABLE enrolment_tokens (
        id TEXT PRIMARY KEY,
        federation_id TEXT NOT NULL REFERENCES federations(id),
        token_hash TEXT NOT NULL UNIQUE,
        label TEXT,
        client_id TEXT,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      );
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        federation_id TEXT,
        details TEXT
      );
      CREATE INDEX rounds_by_status ON rounds(federation_id, status);
      CREATE INDEX clients_by_federation ON clients(federation_id);
    `,
  },
  {
    version: 2,
    name: 'operator-state',
    sql: `
      ALTER TABLE federations ADD COLUMN status_reason TEXT;
      ALTER TABLE federations ADD COLUMN archived_at INTEGER;
      ALTER TABLE clients ADD COLUMN last_error TEXT;
      ALTER TABLE clients ADD COLUMN last_error_round INTEGER;
      ALTER TABLE clients ADD COLUMN last_error_at INTEGER;
    `,
  },
];
