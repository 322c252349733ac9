import { z } from 'zod';

/** The six behaviour kinds the model understands, in token order (index = action id + 1; 0 is padding). */
export const ACTIONS = ['view', 'click', 'cart', 'purchase', 'review', 'search'] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * One behaviour event as it exists at a merchant. Raw ids stay strings here; they are hashed into the model's
 * vocabularies (shared/data/hashing) before anything is trained, and never leave the client.
 * `timestamp` is milliseconds since the Unix epoch after parsing (readers accept ISO strings and seconds).
 */
export const BehaviourEventSchema = z.strictObject({
  userId: z.string().min(1),
  timestamp: z.number().finite().nonnegative(),
  itemId: z.string().min(1),
  categoryId: z.string().min(1),
  action: z.enum(ACTIONS),
  price: z.number().finite().nonnegative().optional(),
  text: z.string().optional(),
  merchantId: z.string().min(1).optional(),
});
export type BehaviourEvent = z.infer<typeof BehaviourEventSchema>;
