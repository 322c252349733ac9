import { yieldToEventLoop } from '../event-loop.js';
import { createHash } from 'node:crypto';
import type { WeightManifest } from './manifest.js';
import { assertVectorMatches } from './layout.js';
import { float32ToLittleEndianBytes } from './bytes.js';

/**
 * Canonical JSON of a manifest: fixed key order, no whitespace, so equal manifests hash equally whatever
 * object they were built from.
 */
export function canonicalManifestJson(manifest: WeightManifest): string {
  const specs = manifest.specs.map((s) => `{"name":${JSON.stringify(s.name)},"shape":[${s.shape.join(',')}],"dtype":"${s.dtype}"}`);
  return `{"specs":[${specs.join(',')}],"totalSize":${manifest.totalSize}}`;
}

/**
 * Content address of a model version: SHA-256 (hex) over the canonical manifest JSON, a NUL separator and
 * the values as little-endian float32 bytes. Same weights and layout ⇒ same hash on every host. Hashes
 * `chunkBytes` at a time (1 MiB ≈ 2 ms) with a yield to the event loop between chunks, so a 10M-parameter
 * model never holds the loop; a worker thread passes a chunk as large as the model.
 */
export async function weightsHash(manifest: WeightManifest, values: Float32Array, chunkBytes = 1 << 20): Promise<string> {
  assertVectorMatches(manifest, values);
  const h = createHash('sha256');
  h.update(canonicalManifestJson(manifest), 'utf8');
  h.update(new Uint8Array([0]));
  const bytes = float32ToLittleEndianBytes(values);
  for (let at = 0; at < bytes.length; at += chunkBytes) {
    h.update(bytes.subarray(at, Math.min(bytes.length, at + chunkBytes)));
    if (at + chunkBytes < bytes.length) await yieldToEventLoop();
  }
  return h.digest('hex');
}
