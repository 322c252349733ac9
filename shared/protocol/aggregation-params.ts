import type { z } from 'zod';
import { FedProfileError } from '../errors.js';

/**
 * Reads and removes one optional setting from a fit instruction's aggregation params, validated by `schema`;
 * throws BAD_INPUT naming `aggregation.params.<key>.<field>` when it is malformed. Each client-side layer
 * (privacy, compression) takes its own key and passes the rest on.
 */
export function takeAggregationParam<S extends z.ZodTypeAny>(
  params: Record<string, unknown>, key: string, schema: S,
): { value: z.output<S> | undefined; rest: Record<string, unknown> } {
  const { [key]: raw, ...rest } = params;
  if (raw === undefined) return { value: undefined, rest };
  const r = schema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new FedProfileError('BAD_INPUT', `aggregation.params.${key}.${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return { value: r.data, rest };
}
