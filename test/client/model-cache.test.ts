import { expect } from 'chai';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelCache } from '../../client-sdk/model-cache.js';
import { loadOrCreateIdentity } from '../../client-sdk/identity.js';
import { weightsHash } from '../../shared/weights/hash.js';
import { removeDir, tempDir } from '../runtime/fixtures/harness.js';

describe('client work dir: model cache and identity', () => {
  let dir: string;
  beforeEach(() => { dir = tempDir('cache'); });
  afterEach(() => removeDir(dir));
  const manifest = { specs: [{ name: 'w', shape: [2, 3], dtype: 'float32' as const }], totalSize: 6 };
  const values = Float32Array.from([1, 2, 3, 4, 5, 6]);

  it('keeps models by hash across restarts, verifies them, and refuses a model that does not match its hash', async () => {
    const hash = await weightsHash(manifest, values);
    await new ModelCache(dir).put(hash, manifest, values);
    const fresh = new ModelCache(dir); // a restarted client
    const got = await fresh.get(hash);
    expect([...got!.values]).to.deep.equal([...values]);
    expect(await fresh.get('f'.repeat(64))).to.equal(undefined);
    await new ModelCache(dir).put(hash, manifest, values).then(() => undefined);
    let err: Error | undefined;
    await new ModelCache(dir).put('0'.repeat(64), manifest, values).catch((e: Error) => { err = e; });
    expect(err?.message).to.match(/does not match its hash/);
    // A corrupted cache file is treated as a miss (downloaded again), never used.
    writeFileSync(join(dir, 'models', `${hash}.bin`), Buffer.alloc(24, 7));
    expect(await new ModelCache(dir).get(hash)).to.equal(undefined);
    expect(readdirSync(join(dir, 'models')).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);
  });

  it('creates the identity key once and reloads the same one', async () => {
    const a = await loadOrCreateIdentity(dir);
    const b = await loadOrCreateIdentity(dir);
    expect(Buffer.from(b.publicKey).equals(Buffer.from(a.publicKey))).to.equal(true);
    expect(a.secretKey.length).to.equal(64);
    writeFileSync(join(dir, 'identity.json'), '{"publicKey": 1}');
    let err: Error | undefined;
    await loadOrCreateIdentity(dir).catch((e: Error) => { err = e; });
    expect(err?.message).to.match(/not a valid identity file/);
  });
});
