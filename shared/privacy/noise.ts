import { randomBytes } from 'node:crypto';
import { FedProfileError } from '../errors.js';
import { clipL2 } from './clip.js';

/** A source of uniform doubles in [0, 1). */
export type Uniform = () => number;

/**
 * Uniforms from the OS CSPRNG (53 random bits each), buffered. Real DP noise must not come from a seeded
 * PRNG an adversary could reproduce; seeded uniforms are for simulations only.
 */
export function secureUniform(): Uniform {
  let buf = Buffer.alloc(0);
  let at = 0;
  return () => {
    if (at + 8 > buf.length) {
      buf = randomBytes(8192);
      at = 0;
    }
    const hi = buf.readUInt32LE(at) >>> 5; // 27 bits
    const lo = buf.readUInt32LE(at + 4) >>> 6; // 26 bits
    at += 8;
    return (hi * 67108864 + lo) / 9007199254740992;
  };
}

/** Standard normal draws by Box–Muller (both outputs used). */
export function gaussianSource(uniform: Uniform = secureUniform()): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    let u1 = 0;
    while (u1 === 0) u1 = uniform();
    const u2 = uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  };
}

/** values + N(0, stddev²) per element, as a new array. */
export function addGaussianNoise(values: Float32Array, stddev: number, normal: () => number = gaussianSource()): Float32Array {
  if (!Number.isFinite(stddev) || stddev < 0) throw new FedProfileError('BAD_CONFIG', `noise stddev must be finite and ≥ 0, got ${stddev}`);
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i]! + stddev * normal();
  return out;
}

export interface DpSettings {
  /** C: every update is clipped to L2 norm ≤ C. */
  clipNorm: number;
  /** z: noise stddev is z·C (on a sum) — the σ of the RDP accountant. */
  noiseMultiplier: number;
}

/** Local DP: the client clips its own update and adds N(0, (zC)²) before it leaves the device. */
export function privatizeLocally(update: Float32Array, dp: DpSettings, normal?: () => number): { values: Float32Array; clipped: boolean; norm: number } {
  const c = clipL2(update, dp.clipNorm);
  return { values: addGaussianNoise(c.values, dp.noiseMultiplier * dp.clipNorm, normal), clipped: c.clipped, norm: c.norm };
}

/**
 * Central DP (DP-FedAvg, McMahan et al. 2018) on an unweighted mean of n clipped updates: the sum has
 * sensitivity C, so the mean gets N(0, (zC/n)²). Example-count weighting changes the sensitivity, so callers
 * using DP aggregate with equal weights (or cap weights and scale C accordingly).
 */
export function addCentralNoise(meanOfClipped: Float32Array, contributors: number, dp: DpSettings, normal?: () => number): Float32Array {
  if (!Number.isInteger(contributors) || contributors < 1) throw new FedProfileError('BAD_INPUT', `central DP needs ≥ 1 contributor, got ${contributors}`);
  return addGaussianNoise(meanOfClipped, (dp.noiseMultiplier * dp.clipNorm) / contributors, normal);
}
