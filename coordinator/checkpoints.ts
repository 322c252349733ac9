import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FedProfileError } from '../shared/errors.js';
import type { ModelConfig } from '../shared/model/config.js';
import type { WeightManifest } from '../shared/weights/manifest.js';
import { float32FromLittleEndianBytes, float32ToLittleEndianBytes } from '../shared/weights/bytes.js';
import { assertVectorMatches, buildManifest } from '../shared/weights/layout.js';
import { ARTIFACT_FORMAT, GENERATED_BY, MODEL_JSON, WEIGHTS_BIN, loadArtifacts, type SavedModel } from '../shared/weights/artifacts.js';
import { weightsHash } from '../shared/weights/hash.js';
import { syncDir, writeFileAtomic } from '../shared/weights/atomic-file.js';
import { yieldToEventLoop } from '../shared/event-loop.js';

/** Bytes hashed between two yields to the event loop (≈ 2 ms of SHA-256 each). */
const HASH_CHUNK_BYTES = 1 << 20;

/** The server optimiser's state beside the round's weights (see encodeServerOptimizerState). */
export const OPTIMIZER_BIN = 'optimizer.bin';
const OPTIMIZER_KEY = 'fedprofileOptimizer';

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
   * shared/weights' saveArtifacts. `digests` are the content hash and weights.bin's SHA-256 when the caller
   * computed them already (the coordinator does, on its aggregation worker); otherwise both SHA-256 passes
   * run here in slices between event-loop turns (in one go they hold the loop for ~200 ms at 10M parameters).
   * The writes themselves go through libuv's thread pool, off the event loop.
   */
  async save(
    federationId: string, round: number,
    model: {
      modelConfig: ModelConfig; manifest: WeightManifest; values: Float32Array; optimizer?: { bytes: Uint8Array; sha256: string };
      digests?: { hash: string; weightsSha256: string };
    },
  ): Promise<string> {
    const { modelConfig, manifest, values, optimizer, digests } = model;
    assertVectorMatches(manifest, values);
    const weights = float32ToLittleEndianBytes(values);
    const hash = digests?.hash ?? await weightsHash(manifest, values, HASH_CHUNK_BYTES);
    const weightsSha256 = digests?.weightsSha256 ?? await sha256InSlices(weights);
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
    await this.writer.mkdir(dir);
    if (optimizer) await this.writer.writeFile(join(dir, OPTIMIZER_BIN), optimizer.bytes);
    await this.writer.writeFile(join(dir, WEIGHTS_BIN), weights);
    await this.writer.writeFile(join(dir, MODEL_JSON), JSON.stringify(modelJson));
    await this.writer.syncDir(dir);
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

  /**
   * Reads a round's checkpoint files for download and verifies them, hashing in slices between event-loop
   * turns: the weights' SHA-256 must match model.json's record, and the content hash must equal the one the
   * store recorded at commit. Otherwise INTEGRITY, naming the file. Returns the exact bytes verified.
   */
  async readVerified(federationId: string, round: number, recordedHash: string): Promise<{ modelJson: Buffer; weights: Buffer }> {
    const dir = this.dir(federationId, round);
    const jsonPath = join(dir, MODEL_JSON);
    const binPath = join(dir, WEIGHTS_BIN);
    const refuse = (file: string, why: string, details: Record<string, unknown> = {}): FedProfileError =>
      new FedProfileError('INTEGRITY', `${file}: ${why}; refusing to serve it`, { file, ...details });
    const read = (file: string): Promise<Buffer> => readFile(file).catch((e: NodeJS.ErrnoException) => {
      throw refuse(file, e.code === 'ENOENT' ? 'missing' : `cannot be read (${e.code})`);
    });
    const [modelJson, weights] = await Promise.all([read(jsonPath), read(binPath)]);
    let json: { userDefinedMetadata?: Record<string, unknown>; weightsManifest?: Array<{ weights?: Array<{ name: string; shape: number[] }> }> };
    try { json = JSON.parse(modelJson.toString('utf8')) as typeof json; } catch { throw refuse(jsonPath, 'is not valid JSON (truncated or corrupt)'); }
    const meta = json?.userDefinedMetadata ?? {};
    const record = meta.fedprofile as { hash?: unknown } | undefined;
    const integrity = meta.fedprofileIntegrity as { weightsSha256?: unknown; weightsBytes?: unknown } | undefined;
    if (record?.hash !== recordedHash) {
      throw refuse(jsonPath, `checkpoint content hash ${String(record?.hash).slice(0, 12)}… does not match the recorded ${recordedHash.slice(0, 12)}…`, { recorded: recordedHash });
    }
    if (integrity?.weightsBytes !== weights.byteLength || await sha256InSlices(weights) !== integrity.weightsSha256) {
      throw refuse(binPath, 'contents do not match the SHA-256 recorded in model.json');
    }
    let manifest: WeightManifest;
    try {
      manifest = buildManifest((json.weightsManifest ?? []).flatMap((g) => g.weights ?? []).map((w) => ({ name: w.name, shape: w.shape })));
    } catch (e) {
      throw refuse(jsonPath, `has an unusable weights manifest (${e instanceof Error ? e.message : String(e)})`);
    }
    if (manifest.totalSize * 4 !== weights.byteLength) throw refuse(binPath, `is ${weights.byteLength} bytes, the manifest describes ${manifest.totalSize * 4}`);
    const hash = await weightsHash(manifest, float32FromLittleEndianBytes(weights, 0, manifest.totalSize), HASH_CHUNK_BYTES);
    if (hash !== recordedHash) throw refuse(binPath, `weights hash ${hash.slice(0, 12)}… does not match the recorded ${recordedHash.slice(0, 12)}…`, { hash, recorded: recordedHash });
    return { modelJson, weights };
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

