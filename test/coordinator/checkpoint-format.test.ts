import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointStore } from '../../coordinator/checkpoints.js';
import { MODEL_JSON, WEIGHTS_BIN, saveArtifacts } from '../../shared/weights/artifacts.js';
import { buildManifest } from '../../shared/weights/layout.js';
import { TINY_MODEL } from '../runtime/fixtures/least-squares-trainer.js';
import { removeDir, tempDir } from '../runtime/fixtures/harness.js';

describe('CheckpointStore.save (hashing in slices between event-loop turns)', () => {
  let dir: string;
  beforeEach(() => { dir = tempDir('ckpt'); });
  afterEach(() => removeDir(dir));

  const model = () => {
    const manifest = buildManifest([{ name: 'a/kernel', shape: [3, 700_001] }, { name: 'a/bias', shape: [5] }]);
    const values = Float32Array.from({ length: manifest.totalSize }, (_, i) => Math.sin(i) * 0.1);
    return { modelConfig: TINY_MODEL, manifest, values };
  };

  it('writes byte for byte what saveArtifacts writes, and returns the same content hash', async () => {
    const m = model();
    const store = new CheckpointStore(dir);
    const hash = await store.save('fed_x', 4, m);
    const reference = join(dir, 'reference');
    const expected = await saveArtifacts(reference, { ...m, metadata: { federationId: 'fed_x', round: 4 } });
    expect(hash).to.equal(expected);
    for (const file of [MODEL_JSON, WEIGHTS_BIN]) {
      const ours = await readFile(join(store.dir('fed_x', 4), file));
      const theirs = await readFile(join(reference, file));
      expect(ours.equals(theirs), file).to.equal(true);
    }
  });

  it('loads back verified, with the same values and hash', async () => {
    const m = model();
    const store = new CheckpointStore(dir);
    const hash = await store.save('fed_y', 0, m);
    const loaded = await store.load('fed_y', 0);
    expect(loaded.hash).to.equal(hash);
    expect(Buffer.from(loaded.values.buffer).equals(Buffer.from(m.values.buffer))).to.equal(true);
    expect(loaded.metadata).to.deep.equal({ federationId: 'fed_y', round: 0 });
  });

  it('refuses values that do not match the manifest, writing nothing', async () => {
    const m = model();
    const store = new CheckpointStore(dir);
    let err: unknown;
    try { await store.save('fed_z', 1, { ...m, values: m.values.subarray(1) }); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(Error);
    expect((err as { code?: string }).code).to.be.a('string');
    let missing = false;
    try { await readFile(join(store.dir('fed_z', 1), MODEL_JSON)); } catch { missing = true; }
    expect(missing).to.equal(true);
  });
});
