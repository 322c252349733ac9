import { z } from 'zod';
import type { ClientAggregationSession } from '../aggregation/seam.js';
import { privatizeClientUpdate } from './dp-fedavg.js';
import { gaussianSource } from './noise.js';
import { takeAggregationParam } from '../protocol/aggregation-params.js';

/**
 * What the coordinator asks a client to do to its update before it leaves the device (the fit instruction's
 * `aggregation.params.privacy`): clip to L2 norm ≤ clipNorm, add N(0, noiseStd²) to every coordinate
 * (distributed DP's noise share; 0 otherwise), and with unitWeight send weight 1 instead of the example count
 * (DP-FedAvg weighs clients equally). Under SecAgg this happens before masking, so the coordinator only ever
 * sees the noised sum, and norm bounding is enforced the only way it can be there: on the client.
 */
export const ClientPrivacySchema = z.strictObject({
  clipNorm: z.number().positive().max(1e6),
  noiseStd: z.number().min(0).max(1e6),
  unitWeight: z.boolean(),
});
export type ClientPrivacy = z.output<typeof ClientPrivacySchema>;

/** Reads and removes `privacy` from the aggregation params; throws naming the field when it is malformed. */
export function takeClientPrivacy(params: Record<string, unknown>): { privacy: ClientPrivacy | undefined; rest: Record<string, unknown> } {
  const { value, rest } = takeAggregationParam(params, 'privacy', ClientPrivacySchema);
  return { privacy: value, rest };
}

/** The round's client aggregation session with the update clipped and noised before it is submitted. */
export function privatizingSession(inner: ClientAggregationSession, p: ClientPrivacy, normal: () => number = gaussianSource()): ClientAggregationSession {
  return {
    submit: (update, weight) => {
      const v = privatizeClientUpdate(update, { clipNorm: p.clipNorm, noiseStd: p.noiseStd }, normal);
      return inner.submit(v.values, p.unitWeight ? 1 : weight);
    },
    handle: (type, payload) => inner.handle(type, payload),
    ...(inner.dispose ? { dispose: () => inner.dispose!() } : {}),
  };
}
