import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { FedProfileError } from '../shared/errors.js';

const PINS_FILE = 'pinned-identities.json';
const base64Key = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'expected a base64 32-byte Ed25519 public key');
/** A directory of identity keys: `{ "clientId": "base64 key", ... }`. */
const DirectorySchema = z.record(z.string().min(1).max(256), base64Key);

/** A neighbour's identity key that differs from the one this client trusts; the round is refused. */
export class IdentityMismatchError extends FedProfileError {
  constructor(readonly clientId: string, readonly source: string) {
    super('FORBIDDEN', `the coordinator presented a different identity key for ${clientId} than the one pinned in ${source}; `
      + 'refusing this round. If that client re-enrolled, check its new key out of band and update the pin.', { clientId, source });
  }
}

function readDirectory(path: string, what: string): Map<string, Uint8Array> {
  let parsed: unknown;
  try { parsed = JSON.parse(readFileSync(path, 'utf8')); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && what === 'pins') return new Map();
    throw new FedProfileError('BAD_CONFIG', `cannot read the ${what} file ${path}: ${(e as Error).message}`);
  }
  const r = DirectorySchema.safeParse(parsed);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new FedProfileError('BAD_CONFIG', `${path}: ${issue.path.join('.') || '(root)'}: ${issue.message} `
      + '(expected a JSON object mapping client ids to base64 Ed25519 public keys)');
  }
  return new Map(Object.entries(r.data).map(([id, k]) => [id, new Uint8Array(Buffer.from(k, 'base64'))]));
}

const equal = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The neighbours' identity keys this client trusts, so a coordinator cannot substitute its own keys and
 * impersonate neighbours in SecAgg+. Two sources, checked in this order:
 * - a trusted directory the operator publishes and merchants check out of band (`--trusted-identities`);
 *   a neighbour missing from it is not trusted at all;
 * - without one, trust on first use: the first key seen for a client id is pinned in the work dir, and a
 *   later, different key for that id is refused.
 */
export class IdentityPins {
  private constructor(
    private readonly trusted: Map<string, Uint8Array> | undefined,
    private readonly trustedPath: string | undefined,
    private readonly pins: Map<string, Uint8Array>,
    private readonly pinsPath: string,
  ) {}

  static load(workDir: string, trustedIdentitiesFile?: string): IdentityPins {
    const trusted = trustedIdentitiesFile ? readDirectory(trustedIdentitiesFile, 'trusted identities') : undefined;
    const pinsPath = join(workDir, PINS_FILE);
    return new IdentityPins(trusted, trustedIdentitiesFile, readDirectory(pinsPath, 'pins'), pinsPath);
  }

  /**
   * Checks the keys a setup message offers: throws IdentityMismatchError on a changed key, pins new ones
   * (trust on first use) and returns the keys to verify neighbours with.
   */
  admit(offered: ReadonlyArray<{ id: string; identityKey: Uint8Array }>): (clientId: string) => Uint8Array | undefined {
    if (this.trusted) {
      for (const nb of offered) {
        const known = this.trusted.get(nb.id);
        if (known && !equal(known, nb.identityKey)) throw new IdentityMismatchError(nb.id, this.trustedPath!);
      }
      return (id) => this.trusted!.get(id);
    }
    let changed = false;
    for (const nb of offered) {
      const known = this.pins.get(nb.id);
      if (known && !equal(known, nb.identityKey)) throw new IdentityMismatchError(nb.id, this.pinsPath);
      if (!known) { this.pins.set(nb.id, new Uint8Array(nb.identityKey)); changed = true; }
    }
    if (changed) this.save();
    return (id) => this.pins.get(id);
  }

  private save(): void {
    const tmp = `${this.pinsPath}.tmp`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries([...this.pins].map(([id, k]) => [id, Buffer.from(k).toString('base64')])), null, 1));
    renameSync(tmp, this.pinsPath);
  }
}
