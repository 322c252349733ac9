import type { ExactPart } from '../../shared/compression/exact-part.js';
import { ConfigError } from '../../shared/errors.js';
import { distributedNoiseStd, type DpMode } from '../../shared/privacy/dp-fedavg.js';
import { gaussianSource } from '../../shared/privacy/noise.js';
import { seededUniform } from '../../shared/random.js';
import { UpdateProtection } from '../../shared/round/update-protection.js';
import type { RoundPlanner } from '../../shared/round/types.js';
import type { FederationDp } from '../../shared/privacy/federation-dp.js';
import type { VirtualRound } from './virtual-federation.js';
import type { SimulationConfig } from '../config.js';
import { plannedContributorsOf } from './client-transforms.js';

/** Whether the experiment asks anything of the updates (DP, a robust rule, upload compression). */
export function needsProtection(cfg: SimulationConfig): boolean {
  const r = cfg.robustAggregation?.rule;
  return Boolean(cfg.dp?.enabled || (r && r !== 'mean' && r !== 'none') || (cfg.compression && cfg.compression.upload !== 'f32'));
}

export function dpModeOf(cfg: SimulationConfig): DpMode {
  return cfg.dp?.mode ?? (cfg.secureAggregation.enabled ? 'distributed' : 'central');
}

/**
 * The coordinator's UpdateProtection for a simulated federation, from the experiment's settings. Noise
 * draws from seeded streams so a run repeats bit for bit (a deployment draws from the OS CSPRNG); with
 * Poisson sampling the accountant is charged the expected rate q whatever the draw.
 */
export function simulationProtection(
  cfg: SimulationConfig, strategy: string, statistics: ExactPart | null, perRound: number, population: number,
): UpdateProtection {
  const secagg = cfg.secureAggregation.enabled;
  const dp = cfg.dp?.enabled ? cfg.dp : undefined;
  const mode = dpModeOf(cfg);
  const planned = plannedContributorsOf(cfg, perRound);
  if (dp && secagg && mode === 'distributed') {
    const std = distributedNoiseStd(dp.clipNorm, dp.noiseMultiplier, planned);
    if (cfg.secureAggregation.clip < 4 * std) {
      throw new ConfigError(`secureAggregation.clip: must be >= ${(4 * std).toPrecision(3)} (4 x the per-client DP noise std for clipNorm ${dp.clipNorm}, noiseMultiplier ${dp.noiseMultiplier}, ${planned} planned contributors) so the noise survives coordinate clipping, got ${cfg.secureAggregation.clip}`, { field: 'secureAggregation.clip' });
    }
  }
  const c = cfg.compression;
  const upload = c && c.upload !== 'f32'
    ? { codec: c.upload, topkFraction: c.topkFraction, ...(c.errorFeedback !== undefined ? { errorFeedback: c.errorFeedback } : {}) }
    : undefined;
  return new UpdateProtection({
    dp: dp ? { ...dp, mode, ...(mode === 'distributed' ? { plannedContributors: planned } : {}) } : undefined,
    robustAggregation: cfg.robustAggregation, uploadCompression: upload,
    secureAggregation: secagg ? { clip: cfg.secureAggregation.clip } : undefined,
    clientsPerRound: perRound, exactPart: upload ? statistics : null,
  }, [], {
    ...(dp?.sampling === 'poisson' ? { samplingRate: Math.min(1, perRound / population) } : {}),
    centralNoise: (round) => gaussianSource(seededUniform(`${cfg.seed}/${strategy}/${round}/dp-central`)),
  });
}

/** A client's seeded DP noise share for one round. */
export function simulationClientNoise(cfg: SimulationConfig, strategy: string): (round: number, clientId: string) => () => number {
  return (round, clientId) => gaussianSource(seededUniform(`${cfg.seed}/${strategy}/${round}/${clientId}/dp`));
}

/**
 * Poisson sampling (simulated DP): the strategy offers every client and each is kept with rate q, drawn
 * from the round's own stream; a draw below the quorum is a failed round (it still counts as one).
 */
export function poissonPlanner(base: RoundPlanner, cfg: SimulationConfig, strategy: string, q: number): RoundPlanner {
  return {
    ...base,
    shortSelectionFails: true,
    configureFit: (round, available, rng) => {
      const keep = seededUniform(`${cfg.seed}/${strategy}/${round}/poisson`);
      return base.configureFit(round, available, rng).filter(() => keep() < q);
    },
  };
}

/**
 * What DP and attackers leave in a round record, under the names reports read (`norms`: the honest
 * clients' update norms before any clipping). An empty (or failed) Poisson round still tells whether anyone
 * was sampled: it is charged here as a round at the configured multiplier rather than left out.
 */
export function protectionReport(
  p: { cfg: SimulationConfig; attackers: number; dp: FederationDp | undefined; expectedRate: number }, r: VirtualRound, norms: readonly number[],
): Record<string, number> {
  const out: Record<string, number> = {};
  if (p.attackers > 0) out.attackers = p.attackers;
  if (norms.length > 0) {
    const sorted = [...norms].sort((a, b) => a - b);
    out.honestUpdateNormMedian = sorted[Math.floor((sorted.length - 1) / 2)]!;
  }
  const dp = p.cfg.dp;
  if (!dp?.enabled || !p.dp) return out;
  const released = r.status === 'completed';
  const z = r.metrics['agg.dpNoiseMultiplier'];
  if (!released && dp.sampling === 'poisson') p.dp.accountant.record(p.expectedRate, dp.noiseMultiplier);
  const spent = p.dp.accountant.spent();
  if (released && z !== undefined) out.dpEffectiveNoiseMultiplier = z;
  if (dp.epsilonBudget !== undefined && spent.epsilon > dp.epsilonBudget) out.dpBudgetExceeded = 1;
  // The clients clipped (the real client's transform); which of them had to is reported from their norms.
  const clipped = norms.filter((n) => n > dp.clipNorm).length;
  Object.assign(out, {
    dpEpsilon: spent.epsilon, dpDelta: spent.delta, dpOrder: spent.order, dpSamplingRate: r.metrics['agg.dpSamplingRate'] ?? p.expectedRate,
    dpClippedFraction: norms.length > 0 ? clipped / norms.length : 0,
    dpMeanUpdateNorm: norms.length > 0 ? norms.reduce((a, b) => a + b, 0) / norms.length : 0,
    dpDistributed: dpModeOf(p.cfg) === 'distributed' ? 1 : 0,
  });
  return out;
}
