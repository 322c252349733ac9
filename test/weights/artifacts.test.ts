import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { buildManifest, fileIOHandler, loadArtifacts, saveArtifacts, weightsHash } from '../../shared/weights/index.js';
import { PROFILE_SMALL } from '../../shared/model/config.js';
import { DataFileError, FedProfileError } from '../../shared/errors.js';
import { useBackend } from './backend-hook.js';

describe('weights: TF.js artifacts on disk', () => {
  useBackend();
  let root: string;
  const manifest = buildManifest([
    { name: 'encoder/item_embedding', shape: [5, 3] },
    { name: 'encoder/layer0/bias', shape: [3] },
    { name: 'head/scale', shape: [] },
  ]);
  const values = Float32Array.from({ length: manifest.totalSize }, (_, i) => Math.sin(i) * 10 ** (i % 5 - 2));
  const metadata = { round: 3, federation: 'fed-1', metrics: { loss: 1.25 } };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'fedprofile-artifacts-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('save → load gives identical config, manifest, values, metadata and hash', async () => {
    const dir = join(root, 'round-3');
    const hash = await saveArtifacts(dir, { modelConfig: PROFILE_SMALL, manifest, values, metadata });
    expect(hash).to.equal(await weightsHash(manifest, values));
    expect((await readdir(dir)).sort()).to.deep.equal(['model.json', 'weights.bin']);
    const loaded = await loadArtifacts(dir);
    expect(loaded.hash).to.equal(hash);
    expect(loaded.modelConfig).to.deep.equal(PROFILE_SMALL);
    expect(loaded.manifest).to.deep.equal(manifest);
    expect(loaded.metadata).to.deep.equal(metadata);
    expect(Buffer.from(loaded.values.buffer).equals(Buffer.from(values.buffer))).to.equal(true);
  });

  it('writes a standard model.json that tf.io.fromMemory and tf.io.decodeWeights read back', async () => {
    const dir = join(root, 'std');
    await saveArtifacts(dir, { modelConfig: PROFILE_SMALL, manifest, values, metadata });
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
    expect(json.modelTopology).to.deep.equal(PROFILE_SMALL);
    expect(json.format).to.equal('fedprofile-model');
    expect(json.generatedBy).to.match(/^fedprofile/);
    expect(json.convertedBy).to.equal(null);
    expect(json.weightsManifest).to.have.length(1);
    expect(json.weightsManifest[0]!.paths).to.deep.equal(['weights.bin']);
    expect(json.weightsManifest[0]!.weights.map((w) => w.name)).to.deep.equal(manifest.specs.map((s) => s.name));
    const bin = await readFile(join(dir, 'weights.bin'));
    const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
    const artifacts = await tf.io.fromMemory({
      modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0]!.weights, weightData,
    }).load!();
    const decoded = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs!);
    expect(decoded['encoder/item_embedding']!.shape).to.deep.equal([5, 3]);
    expect(decoded['head/scale']!.shape).to.deep.equal([]);
    const flat = [...decoded['encoder/item_embedding']!.dataSync(), ...decoded['encoder/layer0/bias']!.dataSync(), ...decoded['head/scale']!.dataSync()];
    expect(flat).to.deep.equal(Array.from(values));
    tf.dispose(Object.values(decoded));
  });

  it('saves and reloads a real tf.LayersModel through fileIOHandler with identical outputs', async () => {
    const dir = join(root, 'layers');
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3], activation: 'relu' }), tf.layers.dense({ units: 2 })] });
    await model.save(fileIOHandler(dir));
    const reloaded = await tf.loadLayersModel(fileIOHandler(dir));
    const x = tf.tensor2d([[0.1, -0.2, 0.3], [1, 2, 3]]);
    const a = model.predict(x) as tf.Tensor;
    const b = reloaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).to.deep.equal(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    model.dispose();
    reloaded.dispose();
  });

  it('overwrites atomically and leaves no temp files', async () => {
    const dir = join(root, 'overwrite');
    await saveArtifacts(dir, { modelConfig: PROFILE_SMALL, manifest, values, metadata });
    const next = values.map((v) => v + 1);
    const h2 = await saveArtifacts(dir, { modelConfig: PROFILE_SMALL, manifest, values: next, metadata: { round: 4 } });
    expect((await readdir(dir)).sort()).to.deep.equal(['model.json', 'weights.bin']);
    const loaded = await loadArtifacts(dir);
    expect(loaded.hash).to.equal(h2);
    expect(loaded.metadata).to.deep.equal({ round: 4 });
  });

  describe('corrupt or missing files', () => {
    async function saved(name: string): Promise<string> {
      const dir = join(root, name);
      await saveArtifacts(dir, { modelConfig: PROFILE_SMALL, manifest, values, metadata });
      return dir;
    }
    async function rejection(p: Promise<unknown>): Promise<FedProfileError> {
      try {
        await p;
      } catch (e) {
        expect(e).to.be.instanceOf(FedProfileError);
        return e as FedProfileError;
      }
      throw new Error('expected a rejection');
    }

    it('a flipped byte in weights.bin is an INTEGRITY error naming the file', async () => {
      const dir = await saved('flip');
      const bin = await readFile(join(dir, 'weights.bin'));
      bin[7]! ^= 0x01;
      await writeFile(join(dir, 'weights.bin'), bin);
      const e = await rejection(loadArtifacts(dir));
      expect(e.code).to.equal('INTEGRITY');
      expect(e.message).to.include('weights.bin').and.include('SHA-256');
    });

    it('a truncated weights.bin is an INTEGRITY error', async () => {
      const dir = await saved('trunc');
      const bin = await readFile(join(dir, 'weights.bin'));
      await writeFile(join(dir, 'weights.bin'), bin.subarray(0, bin.length - 4));
      const e = await rejection(loadArtifacts(dir));
      expect(e.code).to.equal('INTEGRITY');
      expect(e.message).to.match(/bytes on disk/);
    });

    it('missing model.json, missing weights.bin and garbage JSON are DataFileErrors', async () => {
      const empty = join(root, 'nothing-here');
      const e1 = await rejection(loadArtifacts(empty));
      expect(e1).to.be.instanceOf(DataFileError);
      expect(e1.message).to.include('model.json').and.include('missing');

      const dir = await saved('nobin');
      await rm(join(dir, 'weights.bin'));
      const e2 = await rejection(loadArtifacts(dir));
      expect(e2).to.be.instanceOf(DataFileError);
      expect(e2.message).to.include('weights.bin');

      const dir3 = await saved('garbage');
      await writeFile(join(dir3, 'model.json'), '{"modelTopology": {');
      const e3 = await rejection(loadArtifacts(dir3));
      expect(e3).to.be.instanceOf(DataFileError);
      expect(e3.message).to.match(/not valid JSON/);
    });

    it('a model.json whose recorded content hash disagrees is an INTEGRITY error', async () => {
      const dir = await saved('tampered');
      const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
      json.userDefinedMetadata.fedprofile.hash = '0'.repeat(64);
      await writeFile(join(dir, 'model.json'), JSON.stringify(json));
      const e = await rejection(loadArtifacts(dir));
      expect(e.code).to.equal('INTEGRITY');
    });
  });
});
