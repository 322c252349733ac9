import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FedProfileError } from '../shared/errors.js';
import type { ModelConfig } from '../shared/model/config.js';
import type { WeightManifest } from '../shared/weights/manifest.js';
import { float32ToLittleEndianBytes } from '../shared/weights/bytes.js';
import { assertVectorMatches } from '../shared/weights/layout.js';
import { ARTIFACT_FORMAT, GENERATED_BY, MODEL_JSON, WEIGHTS_BIN, loadArtifacts, type SavedModel } from '../shared/weights/artifacts.js';
import { weightsHashAsync } from '../shared/weights/hash.js';
import { syncDir, writeFileAtomic } from '../shared/weights/atomic-file.js';

/** Bytes hashed between two yields to the event loop (≈ 2 ms of SHA-256 each). */
const HASH_CHUNK_BYTES = 1 << 20;
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The file-IO boundary of checkpoint writes. Tests inject failures here (ENOSPC, EIO) to check that a full
 * disk fails the round and the coordinator carries on.
 */
export interface CheckpointWriter {
  mkdir(dir: string): Promise<void>;
  writeFile(path: string, bytes: Uint8Array | string): Promise<void>;
  syncDir(dir: string): Promise<void>;
}

export const fileSystemWriter: CheckpointWriter = {
  mkdir: async (dir) => { await mkdir(dir, { recursive: true }); },
  writeFile: writeFileAtomic,
  syncDir,
};

/** Global model of every round as TF.js artifacts: <dataDir>/checkpoints/<federation>/round-000007/. */
export class CheckpointStore {
  constructor(private readonly dataDir: string, private readonly writer: CheckpointWriter = fileSystemWriter) {}

  federationDir(federationId: string): string {
    return join(this.dataDir, 'checkpoints', federationId);
  }

  dir(federationId: string, round: number): string {
    return join(this.dataDir, 'checkpoints', federationId, `round-${String(round).padStart(6, '0')}`);
  }

  /**
   * Writes atomically (weights first, model.json last) and returns the content hash. The same files as
   * shared/weights' saveArtifacts, but both SHA-256 passes run in slices between event-loop turns: in one
   * go they hold the loop for ~200 ms on a 10M-parameter model, long enough to delay every heartbeat.
   */
  async save(federationId: string, round: number, model: { modelConfig: ModelConfig; manifest: WeightManifest; values: Float32Array }): Promise<string> {
    const { modelConfig, manifest, values } = model;
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
      },
    };
    const dir = this.dir(federationId, round);
    await this.writer.mkdir(dir);
    await this.writer.writeFile(join(dir, WEIGHTS_BIN), weights);
    await this.writer.writeFile(join(dir, MODEL_JSON), JSON.stringify(modelJson));
    await this.writer.syncDir(dir);
    return hash;
  }

  /** Loads and verifies (SHA-256 of weights.bin) a round's checkpoint. */
  load(federationId: string, round: number): Promise<SavedModel> {
    return loadArtifacts(this.dir(federationId, round));
  }

  /**
   * Loads a round's checkpoint for download: the files' own SHA-256 record must hold (loadArtifacts) and the
   * content hash must equal the one the store recorded at commit; otherwise INTEGRITY, naming the file.
   */
  async loadVerified(federationId: string, round: number, recordedHash: string): Promise<SavedModel> {
    const saved = await this.load(federationId, round);
    if (saved.hash !== recordedHash) {
      const file = join(this.dir(federationId, round), WEIGHTS_BIN);
      throw new FedProfileError('INTEGRITY', `${file}: checkpoint content hash ${saved.hash.slice(0, 12)}… does not match the recorded ${recordedHash.slice(0, 12)}…; refusing to serve it`,
        { file, hash: saved.hash, recorded: recordedHash });
    }
    return saved;
  }
}

async function sha256InSlices(bytes: Uint8Array): Promise<string> {
  const h = createHash('sha256');
  for (let at = 0; at < bytes.length; at += HASH_CHUNK_BYTES) {
    h.update(bytes.subarray(at, Math.min(bytes.length, at + HASH_CHUNK_BYTES)));
    await yieldToEventLoop();
  }
  return h.digest('hex');
}

