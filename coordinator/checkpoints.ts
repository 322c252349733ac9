import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelConfig } from '../shared/model/config.js';
import type { WeightManifest } from '../shared/weights/manifest.js';
import { float32ToLittleEndianBytes } from '../shared/weights/bytes.js';
import { assertVectorMatches } from '../shared/weights/layout.js';
import { ARTIFACT_FORMAT, GENERATED_BY, MODEL_JSON, WEIGHTS_BIN, loadArtifacts, type SavedModel } from '../shared/weights/artifacts.js';
import { weightsHashAsync } from '../shared/weights/hash.js';
import { syncDir, writeFileAtomic } from '../shared/weights/atomic-file.js';
import { yieldToEventLoop } from '../shared/event-loop.js';
import { FedProfileError } from '../shared/errors.js';

/** Bytes hashed between two yields to the event loop (≈ 2 ms of SHA-256 each). */
const HASH_CHUNK_BYTES = 1 << 20;

/** The server optimiser's state beside the round's weights (see encodeServerOptimizerState). */
export const OPTIMIZER_BIN = 'optimizer.bin';
const OPTIMIZER_KEY = 'fedprofileOptimizer';

/** Global model of every round as TF.js artifacts: <dataDir>/checkpoints/<federation>/round-000007/. */
export class CheckpointStore {
  constructor(private readonly dataDir: string) {}

  dir(federationId: string, round: number): string {
    return join(this.dataDir, 'checkpoints', federationId, `round-${String(round).padStart(6, '0')}`);
  }

  /**
   * Writes atomically (weights first, model.json last) and returns the content hash. The same files as
   * shared/weights' saveArtifacts, but both SHA-256 passes run in slices between event-loop turns: in one
   * go they hold the loop for ~200 ms on a 10M-parameter model, long enough to delay every heartbeat.
   */
  async save(
    federationId: string, round: number,
    model: { modelConfig: ModelConfig; manifest: WeightManifest; values: Float32Array; optimizer?: { bytes: Uint8Array; sha256: string } },
  ): Promise<string> {
    const { modelConfig, manifest, values, optimizer } = model;
    assertVectorMatches(manifest, values);
    const hash = await weightsHashAsync(manifest, values, HASH_CHUNK_BYTES);
    const weights = float32ToLittleEndianBytes(values);
    const weightsSha256 = await sha256InSlices(weights);
    const modelJson = {
      modelTopology: modelConfig,
      format: ARTIFACT_FORMAT,
      generatedBy: GENERATED_BY,
      convertedBy: null,
      weightsManifest: [{ paths: [WEIGHTS_BIN], weights: manifest.specs.map((s) => ({ name: s.name, shape: [...s.shape], dtype: 'float32' })) }],
      // Keys and order as saveArtifacts writes them: its own record, then the integrity record load() checks.
      userDefinedMetadata: {
        federationId, round,
        fedprofile: { hash, totalSize: manifest.totalSize },
        fedprofileIntegrity: { weightsSha256, weightsBytes: weights.byteLength },
        ...(optimizer ? { [OPTIMIZER_KEY]: { file: OPTIMIZER_BIN, sha256: optimizer.sha256, bytes: optimizer.bytes.byteLength } } : {}),
      },
    };
    const dir = this.dir(federationId, round);
    await mkdir(dir, { recursive: true });
    if (optimizer) await writeFileAtomic(join(dir, OPTIMIZER_BIN), optimizer.bytes);
    await writeFileAtomic(join(dir, WEIGHTS_BIN), weights);
    await writeFileAtomic(join(dir, MODEL_JSON), JSON.stringify(modelJson));
    await syncDir(dir);
    return hash;
  }

  /** A round's optimizer.bin, verified against the SHA-256 the store recorded (and model.json repeats). */
  async loadOptimizer(federationId: string, round: number, sha256: string): Promise<Uint8Array> {
    const path = join(this.dir(federationId, round), OPTIMIZER_BIN);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(path));
    } catch (e) {
      throw new FedProfileError('INTEGRITY', `${path}: the server optimiser state of round ${round} is missing (${(e as Error).message})`);
    }
    const actual = await sha256InSlices(bytes);
    if (actual !== sha256) throw new FedProfileError('INTEGRITY', `${path}: SHA-256 ${actual}, the store expects ${sha256}`);
    return bytes;
  }

  /** Loads and verifies (SHA-256 of weights.bin) a round's checkpoint. */
  load(federationId: string, round: number): Promise<SavedModel> {
    return loadArtifacts(this.dir(federationId, round));
  }
}

export async function sha256InSlices(bytes: Uint8Array): Promise<string> {
  const h = createHash('sha256');
  for (let at = 0; at < bytes.length; at += HASH_CHUNK_BYTES) {
    h.update(bytes.subarray(at, Math.min(bytes.length, at + HASH_CHUNK_BYTES)));
    await yieldToEventLoop();
  }
  return h.digest('hex');
}

