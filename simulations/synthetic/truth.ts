import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DataFileError } from '../../shared/errors.js';
import type { Hasher } from '../../shared/data/hashing.js';
import type { MerchantTruth, SyntheticOptions, UserTruth } from './generate.js';

/**
 * The truth's top-k interest categories mapped through the same hasher the model uses, so predicted interest
 * ids (hashed) can be scored directly. Categories colliding into one id count once.
 */
export function truthInterestIds(truth: UserTruth, hasher: Hasher, k = 3): number[] {
  const ids: number[] = [];
  for (const { categoryId } of truth.interests) {
    const id = hasher.category(categoryId);
    if (!ids.includes(id)) ids.push(id);
    if (ids.length === k) break;
  }
  return ids;
}

/** Precision@k of predicted ids (best first) against a relevant set. */
export function precisionAtK(predicted: readonly number[], relevant: readonly number[], k = 3): number {
  const top = predicted.slice(0, k);
  if (top.length === 0) return 0;
  return top.filter((id) => relevant.includes(id)).length / k;
}

const UserTruthSchema = z.object({
  userId: z.string(),
  merchantId: z.string(),
  interests: z.array(z.object({ categoryId: z.string(), weight: z.number() })),
  priceTier: z.number().int().nonnegative(),
  activityRate: z.number(),
  purchaseRate: z.number(),
  events: z.number().int(),
  purchases: z.number().int(),
});
const TruthFileSchema = z.object({
  options: z.record(z.string(), z.unknown()),
  merchants: z.array(z.object({ merchantId: z.string(), categoryMix: z.record(z.string(), z.number()) })),
  users: z.array(UserTruthSchema),
});

export interface TruthFile {
  options: Partial<SyntheticOptions>;
  merchants: MerchantTruth[];
  users: UserTruth[];
}

/** Loads a truth.json written by writeSynthetic; a wrong file gives one DataFileError. */
export function readTruth(path: string): TruthFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataFileError(path, code === 'ENOENT' ? 'no such file; generate one with `data generate --out DIR`' : 'is not valid JSON; regenerate it with `data generate`');
  }
  const parsed = TruthFileSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new DataFileError(path, `is not a synthetic truth file (${first.path.join('.') || 'root'}: ${first.message}); regenerate it with \`data generate\``);
  }
  return parsed.data as TruthFile;
}
