import { chmod, mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { FedProfileError } from '../shared/errors.js';
import { generateIdentity, identitySigner, type IdentityKeyPair } from '../shared/secagg/keys.js';

const FILE = 'identity.json';

/**
 * The client's long-lived Ed25519 identity, kept in its work dir (mode 0600). The coordinator binds it to
 * the enrolment token on first connect; SecAgg+ signs its round keys with it. Losing it means re-enrolling.
 */
export async function loadOrCreateIdentity(workDir: string): Promise<IdentityKeyPair> {
  const path = join(workDir, FILE);
  let text: string | undefined;
  try { text = await readFile(path, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text !== undefined) {
    try {
      const j = JSON.parse(text) as { publicKey: string; secretKey: string };
      const id = { publicKey: new Uint8Array(Buffer.from(j.publicKey, 'base64')), secretKey: new Uint8Array(Buffer.from(j.secretKey, 'base64')) };
      if (id.publicKey.length !== 32 || id.secretKey.length !== 64) throw new Error('bad key length');
      return id;
    } catch {
      throw new FedProfileError('BAD_CONFIG', `${path} is not a valid identity file; restore it from a backup or use a new work dir and token`);
    }
  }
  await mkdir(workDir, { recursive: true });
  const id = generateIdentity();
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify({
    publicKey: Buffer.from(id.publicKey).toString('base64'), secretKey: Buffer.from(id.secretKey).toString('base64'),
  }), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  return id;
}

export function signAuth(identity: IdentityKeyPair, challenge: string): string {
  return Buffer.from(identitySigner(identity)(Buffer.from(challenge))).toString('base64');
}
