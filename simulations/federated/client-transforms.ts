import type { ExactPart } from '../../shared/compression/exact-part.js';
import { encodeMessage } from '../../shared/protocol/codec.js';
import { seededUniform, shuffleInPlace } from '../../shared/random.js';
import { decodeVector, encodeVector, type VectorCodec } from '../../shared/weights/codec.js';
import type { SimulationConfig } from '../config.js';

/**
 * What a simulated client does around the shared client body that is specific to the simulation: it
 * trains from the global model as it decodes it from the download encoding, and an attacker replaces its
 * update (a malicious client skips every client-side safeguard and sends what it likes).
 */

/**
 * Bytes of a vector in the 'global' message envelope, in the configured download encoding; `exact` (the
 * statistics) goes as float32 beside a lossy encoding.
 */
export function downloadBytes(values: Float32Array, codec: VectorCodec, exact: ExactPart | null = null): number {
  if (codec === 'f32') return encodeMessage({ type: 'global', payload: values }).byteLength;
  if (!exact) return encodeMessage({ type: 'global', payload: encodeVector(values, codec) }).byteLength;
  return encodeMessage({ type: 'global', payload: encodeVector(exact.lossy(values), codec) }).byteLength + exact.exactBytes;
}

/** The global model as a client decodes it from the download encoding (`exact`: kept float32). */
export function decodedDownload(global: Float32Array, codec: VectorCodec, exact: ExactPart | null): Float32Array {
  if (codec === 'f32') return global;
  if (!exact) return decodeVector(encodeVector(global, codec));
  return exact.join(decodeVector(encodeVector(exact.lossy(global), codec)), global);
}

/** The attacking clients: a seeded fraction of them, the same in every strategy. */
export function attackersOf(cfg: SimulationConfig, clientIds: readonly string[]): Set<string> {
  if (!cfg.attack) return new Set();
  const pool = shuffleInPlace([...clientIds].sort(), seededUniform(`${cfg.seed}/attackers`));
  return new Set(pool.slice(0, Math.max(1, Math.round(cfg.attack.fraction * pool.length))));
}

/** An attacker's update in place of its honest delta. */
export function attackedUpdate(cfg: SimulationConfig, delta: Float32Array): Float32Array {
  const a = cfg.attack!;
  const factor = a.kind === 'sign-flip' ? -a.scale : a.scale;
  return delta.map((x) => x * factor);
}

export function l2Norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/** Distributed DP: contributors whose noise shares make up the full noise (cohort less expected dropouts). */
export function plannedContributorsOf(cfg: SimulationConfig, perRound: number): number {
  return cfg.dp?.plannedContributors ?? Math.max(1, Math.floor(perRound * (1 - cfg.dropout - cfg.stragglers.rate) + 1e-9));
}
