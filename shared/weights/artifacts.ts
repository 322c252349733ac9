import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { DataFileError, FedProfileError } from '../errors.js';
import { ModelConfigSchema, type ModelConfig } from '../model/config.js';
import type { WeightManifest } from './manifest.js';
import { assertVectorMatches, buildManifest } from './layout.js';
import { float32FromLittleEndianBytes, float32ToLittleEndianBytes } from './bytes.js';
import { weightsHash } from './hash.js';
import { syncDir, writeFileAtomic } from './atomic-file.js';

/**
 * TF.js model artifacts on a local disk: `model.json` (topology, weights manifest, metadata) + `weights.bin`,
 * the same layout `tf.io.http`/`tf.io.fromMemory` consume. Pure tfjs has no file:// handler, hence this one.
 */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export const ARTIFACT_FORMAT = 'fedprofile-model';
export const GENERATED_BY = 'fedprofile 0.1.0';
/** userDefinedMetadata key for the integrity record; stripped again on load. */
const INTEGRITY_KEY = 'fedprofileIntegrity';
/** userDefinedMetadata key for saveArtifacts' own record (content hash, size). */
const MODEL_KEY = 'fedprofile';

type JsonObject = { [key: string]: {} };

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function concat(data: tf.io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  const parts = Array.isArray(data) ? data : [data];
  const total = parts.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const b of parts) {
    out.set(new Uint8Array(b), at);
    at += b.byteLength;
  }
  return out;
}

function expectedWeightBytes(specs: readonly tf.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const s of specs) {
    const per = s.quantization ? (s.quantization.dtype === 'float16' ? 2 : s.quantization.dtype === 'uint16' ? 2 : 1) : DTYPE_BYTES[s.dtype];
    if (per === undefined) return undefined;
    total += per * s.shape.reduce((a, b) => a * b, 1);
  }
  return total;
}

/**
 * An IOHandler for `dir`. `save` writes weights.bin first and model.json last (each atomically), and records
 * the SHA-256 of weights.bin in model.json, so a crash between the two renames is detected on load rather
 * than silently pairing new weights with an old manifest.
 */
export function fileIOHandler(dir: string): Required<Pick<tf.io.IOHandler, 'save' | 'load'>> {
  const modelPath = join(dir, MODEL_JSON);
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new FedProfileError('BAD_INPUT', 'binary (GraphDef) model topologies are not supported by the file handler');
      }
      const weights = concat(artifacts.weightData);
      const specs = artifacts.weightSpecs ?? [];
      const expected = expectedWeightBytes(specs);
      if (expected !== undefined && expected !== weights.byteLength) {
        throw new FedProfileError('BAD_INPUT', `weight data is ${weights.byteLength} bytes but the specs describe ${expected}`);
      }
      await mkdir(dir, { recursive: true });
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology ?? {},
        format: artifacts.format,
        generatedBy: artifacts.generatedBy ?? GENERATED_BY,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: specs }],
        userDefinedMetadata: {
          ...(artifacts.userDefinedMetadata ?? {}),
          [INTEGRITY_KEY]: { weightsSha256: sha256(weights), weightsBytes: weights.byteLength },
        },
      };
      if (artifacts.trainingConfig) modelJson.trainingConfig = artifacts.trainingConfig;
      if (artifacts.signature) modelJson.signature = artifacts.signature;
      const json = JSON.stringify(modelJson);
      await writeFileAtomic(join(dir, WEIGHTS_BIN), weights);
      await writeFileAtomic(modelPath, json);
      await syncDir(dir);
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(modelJson.modelTopology).length,
          weightSpecsBytes: JSON.stringify(specs).length,
          weightDataBytes: weights.byteLength,
        },
      };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      let text: string;
      try {
        text = await readFile(modelPath, 'utf8');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new DataFileError(modelPath, code === 'ENOENT' ? 'missing: not a saved model directory' : `cannot be read (${code})`);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new DataFileError(modelPath, 'is not valid JSON (truncated or corrupt)');
      }
      const json = parsed as Partial<tf.io.ModelJSON>;
      if (!json || typeof json !== 'object' || !Array.isArray(json.weightsManifest) || json.modelTopology === undefined) {
        throw new DataFileError(modelPath, 'is not a TF.js model.json (needs modelTopology and weightsManifest)');
      }
      const specs: tf.io.WeightsManifestEntry[] = [];
      const chunks: Uint8Array[] = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) {
          const file = join(dir, p);
          try {
            chunks.push(await readFile(file));
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            throw new DataFileError(file, code === 'ENOENT' ? 'missing: model.json refers to it' : `cannot be read (${code})`);
          }
        }
      }
      const weights = concat(chunks.map((c) => c.buffer.slice(c.byteOffset, c.byteOffset + c.byteLength) as ArrayBuffer));
      const meta: JsonObject = { ...(json.userDefinedMetadata ?? {}) };
      const integrity = meta[INTEGRITY_KEY] as { weightsSha256?: unknown; weightsBytes?: unknown } | undefined;
      delete meta[INTEGRITY_KEY];
      const binPath = join(dir, WEIGHTS_BIN);
      if (integrity && typeof integrity.weightsSha256 === 'string') {
        if (integrity.weightsBytes !== weights.byteLength) {
          throw new FedProfileError('INTEGRITY', `${binPath}: ${weights.byteLength} bytes on disk, model.json records ${String(integrity.weightsBytes)}`, { file: binPath });
        }
        if (sha256(weights) !== integrity.weightsSha256) {
          throw new FedProfileError('INTEGRITY', `${binPath}: contents do not match the SHA-256 recorded in model.json`, { file: binPath });
        }
      }
      const expected = expectedWeightBytes(specs);
      if (expected !== undefined && expected !== weights.byteLength) {
        throw new FedProfileError('INTEGRITY', `${binPath}: ${weights.byteLength} bytes, but the weights manifest describes ${expected}`, { file: binPath });
      }
      const artifacts: tf.io.ModelArtifacts = {
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData: weights.buffer as ArrayBuffer,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy ?? null,
      };
      if (Object.keys(meta).length > 0) artifacts.userDefinedMetadata = meta;
      if (json.trainingConfig) artifacts.trainingConfig = json.trainingConfig;
      if (json.signature) artifacts.signature = json.signature;
      return artifacts;
    },
  };
}

/** JSON-safe metadata stored beside a checkpoint (round, federation, metrics, …). */
export type ArtifactMetadata = { [key: string]: {} };

export interface SavedModel {
  modelConfig: ModelConfig;
  manifest: WeightManifest;
  values: Float32Array;
  metadata: ArtifactMetadata;
  /** weightsHash(manifest, values): the model version's content address. */
  hash: string;
}

/** The artifacts saveArtifacts writes, in memory: also what `tf.io.fromMemory` would be given. */
export async function toModelArtifacts(input: Omit<SavedModel, 'hash'>): Promise<{ artifacts: tf.io.ModelArtifacts; hash: string }> {
  assertVectorMatches(input.manifest, input.values);
  if (MODEL_KEY in input.metadata || INTEGRITY_KEY in input.metadata) {
    throw new FedProfileError('BAD_INPUT', `checkpoint metadata may not use the reserved keys "${MODEL_KEY}" or "${INTEGRITY_KEY}"`);
  }
  const hash = await weightsHash(input.manifest, input.values);
  const bytes = float32ToLittleEndianBytes(input.values);
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: input.modelConfig,
    format: ARTIFACT_FORMAT,
    generatedBy: GENERATED_BY,
    convertedBy: null,
    weightSpecs: input.manifest.specs.map((s) => ({ name: s.name, shape: [...s.shape], dtype: 'float32' })),
    weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    userDefinedMetadata: { ...input.metadata, [MODEL_KEY]: { hash, totalSize: input.manifest.totalSize } },
  };
  return { artifacts, hash };
}

/** Saves a checkpoint as TF.js artifacts in `dir`; returns its content hash. */
export async function saveArtifacts(dir: string, input: Omit<SavedModel, 'hash'>): Promise<string> {
  const { artifacts, hash } = await toModelArtifacts(input);
  await fileIOHandler(dir).save(artifacts);
  return hash;
}

/** Reads a checkpoint saved by saveArtifacts, verifying the weights against the recorded content hash. */
export async function loadArtifacts(dir: string): Promise<SavedModel> {
  const artifacts = await fileIOHandler(dir).load();
  const modelPath = join(dir, MODEL_JSON);
  const config = ModelConfigSchema.safeParse(artifacts.modelTopology);
  if (!config.success) {
    const issue = config.error.issues[0];
    throw new DataFileError(modelPath, `modelTopology is not a fedprofile model config (${issue?.path.join('.') || 'root'}: ${issue?.message})`);
  }
  const specs = artifacts.weightSpecs ?? [];
  const bad = specs.find((s) => s.dtype !== 'float32' || s.quantization !== undefined);
  if (bad) throw new DataFileError(modelPath, `weight "${bad.name}" is not plain float32`);
  const manifest = buildManifest(specs.map((s) => ({ name: s.name, shape: s.shape })));
  const bytes = concat(artifacts.weightData);
  const values = float32FromLittleEndianBytes(bytes, 0, manifest.totalSize);
  const { [MODEL_KEY]: record, ...metadata } = artifacts.userDefinedMetadata ?? {};
  const hash = await weightsHash(manifest, values);
  const recorded = (record as { hash?: unknown } | undefined)?.hash;
  if (typeof recorded !== 'string') throw new DataFileError(modelPath, 'has no fedprofile content hash (not saved by saveArtifacts)');
  if (recorded !== hash) {
    throw new FedProfileError('INTEGRITY', `${dir}: weights hash ${hash.slice(0, 12)}… does not match the recorded ${recorded.slice(0, 12)}…`, {
      dir, hash, recorded,
    });
  }
  return { modelConfig: config.data, manifest, values, metadata, hash };
}
