import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FedProfileError } from '../shared/errors.js';
import type { WeightManifest } from '../shared/weights/manifest.js';
import { weightsHash } from '../shared/weights/hash.js';
import { float32FromLittleEndianBytes, float32ToLittleEndianBytes } from '../shared/weights/bytes.js';

export interface CachedModel { hash: string; manifest: WeightManifest; values: Float32Array }

/**
 * Global models by content hash in <workDir>/models, so a restarted client does not download a version it
 * already has. Every read and every download is checked against its hash.
 */
export class ModelCache {
  private readonly dir: string;
  private readonly memory = new Map<string, CachedModel>();
  constructor(workDir: string, private readonly keepInMemory = 2) { this.dir = join(workDir, 'models'); }

  async get(hash: string): Promise<CachedModel | undefined> {
    const hit = this.memory.get(hash);
    if (hit) return hit;
    let manifest: WeightManifest;
    let bytes: Uint8Array;
    try {
      manifest = JSON.parse(await readFile(join(this.dir, `${hash}.json`), 'utf8')) as WeightManifest;
      bytes = await readFile(join(this.dir, `${hash}.bin`));
    } catch {
      return undefined;
    }
    if (bytes.byteLength % 4 !== 0) return undefined;
    const values = float32FromLittleEndianBytes(bytes, 0, bytes.byteLength / 4);
    // A lossy download (f16/q8) is checked against the hash of what was decoded, recorded beside it.
    const decodedHash = await readFile(join(this.dir, `${hash}.decoded`), 'utf8').then((t) => t.trim(), () => undefined);
    if (await weightsHash(manifest, values) !== (decodedHash ?? hash)) return undefined; // corrupt: download again
    const m = { hash, manifest, values };
    this.remember(m);
    return m;
  }

  /**
   * Verifies the hash, then stores (atomically) and remembers the model. `lossy`: the model arrived f16/q8
   * encoded, so its values cannot match the exact model's hash; the hash of the decoded values is stored
   * beside them (`<hash>.decoded`) and later reads are checked against that instead.
   */
  async put(hash: string, manifest: WeightManifest, values: Float32Array, lossy = false): Promise<CachedModel> {
    const actual = await weightsHash(manifest, values);
    if (!lossy && actual !== hash) throw new FedProfileError('INTEGRITY', `received model does not match its hash (${actual.slice(0, 12)}… ≠ ${hash.slice(0, 12)}…)`);
    await mkdir(this.dir, { recursive: true });
    const files: Array<readonly [string, string | Uint8Array]> = [[`${hash}.bin`, float32ToLittleEndianBytes(values)], [`${hash}.json`, JSON.stringify(manifest)]];
    // Written first, so a crash between files never leaves a lossy model that passes as the exact one.
    if (lossy) files.unshift([`${hash}.decoded`, actual]);
    for (const [name, data] of files) {
      const tmp = join(this.dir, `${name}.tmp`);
      await writeFile(tmp, data);
      await rename(tmp, join(this.dir, name));
    }
    const m = { hash, manifest, values };
    this.remember(m);
    return m;
  }

  private remember(m: CachedModel): void {
    this.memory.set(m.hash, m);
    while (this.memory.size > this.keepInMemory) this.memory.delete(this.memory.keys().next().value!);
  }
}
