import { ExactPart } from '../../shared/compression/exact-part.js';
import { UpdateProtection } from '../../shared/round/update-protection.js';
import type { WeightManifest } from '../../shared/weights/manifest.js';
import type { FederationConfig } from '../federation-config.js';

/**
 * The federation's UpdateProtection (shared with the simulator): DP-FedAvg, the robust rule and upload
 * decoding from its config, the accountant resumed from the metrics of its committed rounds.
 */
export function federationProtection(
  config: FederationConfig, manifest: WeightManifest, committedRoundMetrics: ReadonlyArray<Record<string, number> | null>,
): UpdateProtection {
  const upload = config.compression?.upload;
  return new UpdateProtection({
    dp: config.dp, robustAggregation: config.robustAggregation, uploadCompression: upload,
    secureAggregation: config.secureAggregation, clientsPerRound: config.strategy.clientsPerRound,
    // Lossy upload codecs leave the federated statistics (counts) alone: they travel as float32.
    exactPart: upload ? ExactPart.statistics(manifest.specs) : null,
  }, committedRoundMetrics);
}
