import { z } from 'zod';
import { SecAggError } from './errors.js';

/** Message types, namespaced for the Aggregator seam. */
export const MSG = {
  setup: 'secagg/setup',
  advertise: 'secagg/advertise',
  keys: 'secagg/keys',
  shareKeys: 'secagg/share-keys',
  shares: 'secagg/shares',
  maskedInput: 'secagg/masked-input',
  unmask: 'secagg/unmask',
  unmaskShares: 'secagg/unmask-shares',
  abort: 'secagg/abort',
} as const;

const id = z.string().min(1).max(256);
/** Transports may hand binary back as Buffer (a Uint8Array subclass): accepted as is. */
const bytes = (len?: number) => z.custom<Uint8Array>(
  (v) => v instanceof Uint8Array && (len === undefined || v.length === len),
  len === undefined ? 'expected bytes' : `expected ${len} bytes`,
);
const share = bytes(33);

/** Server → client: the round's shape and this client's neighbours with their enrolled identity keys. */
export const SetupSchema = z.object({
  participants: z.number().int().min(3).max(65535),
  threshold: z.number().int().min(2).max(254),
  neighbours: z.array(z.object({ id, identityKey: bytes(32) })).max(254),
});
/** Client → server: its two X25519 public keys, signed with its identity key. */
export const AdvertiseSchema = z.object({ cPk: bytes(32), sPk: bytes(32), signature: bytes(64) });
/** Server → client: the neighbours' advertisements (only those whose signatures verified). */
export const KeysSchema = z.object({
  peers: z.array(z.object({ id, cPk: bytes(32), sPk: bytes(32), signature: bytes(64) })).max(254),
});
const sealed = { nonce: bytes(24), ciphertext: bytes() };
/** Client → server: one sealed share pair per neighbour. */
export const ShareKeysSchema = z.object({ shares: z.array(z.object({ to: id, ...sealed })).max(254) });
/** Server → client: the sealed share pairs addressed to it. */
export const SharesSchema = z.object({ shares: z.array(z.object({ from: id, ...sealed })).max(254) });
/** Client → server: the masked, quantised update (m values, then weight and clipped fraction). */
export const MaskedInputSchema = z.object({
  vector: z.custom<Uint32Array | Uint8Array>((v) => v instanceof Uint32Array || (v instanceof Uint8Array && v.length % 4 === 0),
    'expected a Uint32Array'),
});
/** Server → client: which neighbours survived to masked input and which dropped after sharing. */
export const UnmaskSchema = z.object({ survivors: z.array(id).max(254), dropped: z.array(id).max(254) });
/** Client → server: seed shares of the survivors, key shares of the dropped. */
export const UnmaskSharesSchema = z.object({
  seedShares: z.array(z.object({ of: id, share })).max(254),
  keyShares: z.array(z.object({ of: id, share })).max(254),
});
export const AbortSchema = z.object({ reason: z.string() });

export type SetupPayload = z.infer<typeof SetupSchema>;
export type AdvertisePayload = z.infer<typeof AdvertiseSchema>;
export type KeysPayload = z.infer<typeof KeysSchema>;
export type ShareKeysPayload = z.infer<typeof ShareKeysSchema>;
export type SharesPayload = z.infer<typeof SharesSchema>;
export type MaskedInputPayload = { vector: Uint32Array };
export type UnmaskPayload = z.infer<typeof UnmaskSchema>;
export type UnmaskSharesPayload = z.infer<typeof UnmaskSharesSchema>;

export function parsePayload<T>(schema: z.ZodType<T>, type: string, payload: unknown): T {
  const r = schema.safeParse(payload);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new SecAggError('malformed', `${type}: ${issue.path.join('.') || 'payload'}: ${issue.message}`);
  }
  return r.data;
}

/** A Uint32Array view of a masked vector that may have arrived as bytes. */
export function asWords(v: Uint32Array | Uint8Array): Uint32Array {
  if (v instanceof Uint32Array) return v;
  if (v.byteOffset % 4 === 0) return new Uint32Array(v.buffer, v.byteOffset, v.length / 4);
  return new Uint32Array(new Uint8Array(v).buffer);
}

/**
 * Approximate size on a binary wire (socket.io attachments, or CBOR): raw bytes for binary fields, UTF-8
 * for strings, 8 bytes per number, plus the type name. Used for the per-client traffic figures.
 */
export function wireSize(type: string, payload: unknown): number {
  return Buffer.byteLength(type) + sizeOf(payload);
}

function sizeOf(v: unknown): number {
  if (ArrayBuffer.isView(v)) return v.byteLength;
  if (typeof v === 'string') return Buffer.byteLength(v) + 1;
  if (typeof v === 'number' || typeof v === 'boolean') return 8;
  if (Array.isArray(v)) return 2 + v.reduce((s: number, x) => s + sizeOf(x), 0);
  if (v && typeof v === 'object') {
    let s = 2;
    for (const [k, x] of Object.entries(v)) s += k.length + 1 + sizeOf(x);
    return s;
  }
  return 1;
}
