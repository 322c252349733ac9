import { seededUniform, shuffleInPlace } from '../../shared/random.js';
import type { FitInstruction } from '../../shared/aggregation/strategy.js';
import { UpdateCompressor } from '../../shared/compression/index.js';
import type { ExactPart } from '../../shared/compression/exact-part.js';
import { RdpAccountant } from '../../shared/privacy/accountant.js';
import { clipL2 } from '../../shared/privacy/clip.js';
import {
  distributedNoiseStd, effectiveNoiseMultiplier, noiseCentralMean, privatizeClientUpdate, roundingL2Bound, type DpMode,
} from '../../shared/privacy/dp-fedavg.js';
import { gaussianSource } from '../../shared/privacy/noise.js';
import { fractionalBits } from '../../shared/secagg/quantise.js';
import { decodeVector, encodeVector } from '../../shared/weights/codec.js';
import { ConfigError } from '../../shared/errors.js';
import type { SimulationConfig } from '../config.js';

/**
 * What DP-FedAvg, the attack scenario, client-side norm bounding and wire compression add to a simulated
 * round, kept out of the round loop: the loop asks these hooks at fixed points (selection, download, each
 * client's update, the aggregate, the end of the round) and records what they report.
 *
 * Simulation noise and sampling draw from seeded streams so a run repeats bit for bit; a deployment draws
 * DP noise from the OS CSPRNG (gaussianSource's default).
 */
export interface ClientUpload {
  update: Float32Array;
  weight: number;
  /** Encoded upload size when compressed; null = the float32 update as is. */
  encodedBytes: number | null;
}

export interface PrivacyHooks {
  /** Poisson sampling: the strategy should offer every client, the hooks then keep each with probability q. */
  readonly selectAll: boolean;
  /** Reason to stop before the next round (its ε would exceed the budget), or null. */
  budgetStop(): string | null;
  sample(round: number, instructions: readonly FitInstruction[]): FitInstruction[];
  /** The global model as clients decode it from the configured download encoding (`exact`: kept float32). */
  download(global: Float32Array, exact: ExactPart | null): { global: Float32Array };
  /** `exact`: positions of `delta` a lossy upload codec leaves alone (the statistics). */
  clientUpdate(clientId: string, round: number, delta: Float32Array, weight: number, exact: ExactPart | null): ClientUpload;
  /** Cap on the aggregation weight (1 under DP: every client counts equally). */
  maxWeight(dataMax: number): number;
  /** Central DP noise on the aggregated mean. */
  serverMean(round: number, mean: Float32Array, contributors: number): Float32Array;
  /** Book-keeping once the round released a model; returns numbers for the round record. */
  endRound(p: { participants: number; contributors: number; released: boolean; dimension: number }): Record<string, number>;
}

function updateNorm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

export function attackersOf(cfg: SimulationConfig, clientIds: readonly string[]): Set<string> {
  if (!cfg.attack) return new Set();
  const pool = shuffleInPlace([...clientIds].sort(), seededUniform(`${cfg.seed}/attackers`));
  return new Set(pool.slice(0, Math.max(1, Math.round(cfg.attack.fraction * pool.length))));
}

/** Distributed DP: contributors whose noise shares make up the full noise (cohort less expected dropouts). */
export function plannedContributorsOf(cfg: SimulationConfig, perRound: number): number {
  return cfg.dp?.plannedContributors ?? Math.max(1, Math.floor(perRound * (1 - cfg.dropout - cfg.stragglers.rate) + 1e-9));
}

export function createPrivacyHooks(cfg: SimulationConfig, strategy: string, clientIds: readonly string[], plannedPerRound: number): PrivacyHooks {
  const dp = cfg.dp?.enabled ? cfg.dp : undefined;
  const secagg = cfg.secureAggregation.enabled;
  const mode: DpMode = dp?.mode ?? (secagg ? 'distributed' : 'central');
  const q = Math.min(1, plannedPerRound / clientIds.length);
  const accountant = dp ? new RdpAccountant({ sampling: dp.sampling, delta: dp.delta, ...(dp.epsilonBudget !== undefined ? { epsilonBudget: dp.epsilonBudget } : {}) }) : undefined;
  const attackers = attackersOf(cfg, clientIds);
  const compression = cfg.compression;
  const compressors = new Map<string, UpdateCompressor>();
  const planned = plannedContributorsOf(cfg, plannedPerRound);
  const clientNoiseStd = dp && mode === 'distributed' ? distributedNoiseStd(dp.clipNorm, dp.noiseMultiplier, planned) : 0;
  if (dp && secagg && mode === 'distributed' && cfg.secureAggregation.clip < 4 * clientNoiseStd) {
    throw new ConfigError(`secureAggregation.clip: must be >= ${(4 * clientNoiseStd).toPrecision(3)} (4 x the per-client DP noise std for clipNorm ${dp.clipNorm}, noiseMultiplier ${dp.noiseMultiplier}, ${planned} planned contributors) so the noise survives coordinate clipping, got ${cfg.secureAggregation.clip}`, { field: 'secureAggregation.clip' });
  }
  const normBound = cfg.robustAggregation?.rule === 'norm-bound' && secagg ? cfg.robustAggregation.maxNorm : undefined;
  let clipped = 0;
  let submitted = 0;
  /** The lowest multiplier a round achieved so far (dropouts in distributed mode lower it). */
  let lowestZ = dp?.noiseMultiplier ?? 0;
  let normSum = 0;
  /** Honest clients' update norms this round (before any clipping), for calibrating norm bounds. */
  let honestNorms: number[] = [];

  return {
    selectAll: dp?.sampling === 'poisson',

    budgetStop() {
      if (!dp || !accountant || dp.epsilonBudget === undefined) return null;
      // The next round is previewed at the lowest multiplier seen so far (dropouts in distributed mode lower
      // it); if it then comes out lower still, the record says so (dpBudgetExceeded).
      if (!accountant.wouldExceed(q, lowestZ)) return null;
      return `privacy budget: another round would take ε from ${accountant.spent().epsilon.toFixed(3)} past ${dp.epsilonBudget} (δ = ${dp.delta})`;
    },

    sample(round, instructions) {
      if (dp?.sampling !== 'poisson') return [...instructions];
      const rng = seededUniform(`${cfg.seed}/${strategy}/${round}/poisson`);
      return instructions.filter(() => rng() < q);
    },

    download(global, exact) {
      const codec = compression?.download ?? 'f32';
      if (codec === 'f32') return { global };
      if (!exact) return { global: decodeVector(encodeVector(global, codec)) };
      return { global: exact.join(decodeVector(encodeVector(exact.lossy(global), codec)), global) };
    },

    clientUpdate(clientId, round, delta, weight, exact) {
      let update = delta;
      if (attackers.has(clientId)) {
        // A malicious client skips every client-side safeguard (clipping, noise) and sends what it likes.
        update = delta.map((x) => x * (cfg.attack!.kind === 'sign-flip' ? -cfg.attack!.scale : cfg.attack!.scale));
      } else {
        honestNorms.push(updateNorm(delta));
        if (dp) {
          const normal = gaussianSource(seededUniform(`${cfg.seed}/${strategy}/${round}/${clientId}/dp`));
          const p = privatizeClientUpdate(delta, { clipNorm: dp.clipNorm, noiseStd: clientNoiseStd }, normal);
          update = p.values;
          submitted++;
          normSum += p.norm;
          if (p.clipped) clipped++;
        } else if (normBound !== undefined) {
          update = clipL2(delta, normBound).values;
        }
      }
      if (!compression || compression.upload === 'f32' || secagg) return { update, weight: dp ? 1 : weight, encodedBytes: null };
      // One residual per client and vector shape: a PEFT run's pre-training residual (whole model) cannot
      // feed its fine-tuning updates (the slice) and is left behind when fine-tuning starts.
      const key = `${clientId}/${update.length}`;
      let c = compressors.get(key);
      if (!c) {
        c = new UpdateCompressor({
          codec: compression.upload, topkFraction: compression.topkFraction,
          ...(compression.errorFeedback !== undefined ? { errorFeedback: compression.errorFeedback } : {}),
        });
        compressors.set(key, c);
      }
      if (!exact) {
        const out = c.compress(update);
        return { update: out.decoded, weight: dp ? 1 : weight, encodedBytes: out.bytes.byteLength };
      }
      const out = c.compress(exact.lossy(update));
      return { update: exact.join(out.decoded, update), weight: dp ? 1 : weight, encodedBytes: out.bytes.byteLength + exact.exactBytes };
    },

    maxWeight(dataMax) {
      return dp ? 1 : dataMax;
    },

    serverMean(round, mean, contributors) {
      if (!dp || mode !== 'central') return mean;
      const normal = gaussianSource(seededUniform(`${cfg.seed}/${strategy}/${round}/dp-central`));
      return noiseCentralMean(mean, contributors, dp.clipNorm, dp.noiseMultiplier, normal);
    },

    endRound({ participants, contributors, released, dimension }) {
      const out: Record<string, number> = {};
      if (attackers.size > 0) out.attackers = attackers.size;
      if (honestNorms.length > 0) {
        const sorted = [...honestNorms].sort((a, b) => a - b);
        out.honestUpdateNormMedian = sorted[Math.floor((sorted.length - 1) / 2)]!;
        honestNorms = [];
      }
      if (!dp || !accountant) return out;
      if (released && contributors > 0) {
        const roundingL2 = secagg ? roundingL2Bound(dimension, fractionalBits(Math.max(1, participants), cfg.secureAggregation.clip)) : 0;
        const z = effectiveNoiseMultiplier({
          mode, clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseMultiplier, contributors, plannedContributors: planned, roundingL2,
        });
        accountant.record(q, z);
        lowestZ = Math.min(lowestZ, z);
        out.dpEffectiveNoiseMultiplier = z;
        if (dp.epsilonBudget !== undefined && accountant.spent().epsilon > dp.epsilonBudget) out.dpBudgetExceeded = 1;
      } else if (dp.sampling === 'poisson') {
        // An empty (or failed) Poisson round still tells whether anyone was sampled: charge it as a round at
        // the configured multiplier rather than leave it out of the analysis.
        accountant.record(q, dp.noiseMultiplier);
      }
      const spent = accountant.spent();
      Object.assign(out, {
        dpEpsilon: spent.epsilon, dpDelta: spent.delta, dpOrder: spent.order, dpSamplingRate: q,
        dpClippedFraction: submitted > 0 ? clipped / submitted : 0, dpMeanUpdateNorm: submitted > 0 ? normSum / submitted : 0,
        dpDistributed: mode === 'distributed' ? 1 : 0,
      });
      clipped = 0;
      submitted = 0;
      normSum = 0;
      return out;
    },
  };
}
