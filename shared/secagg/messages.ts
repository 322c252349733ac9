import { z } from 'zod';
import { SecAggError } from './errors.js';

/** Message types, namespaced for the Aggregator seam. */
export const MSG = {
  setup: 'secagg/setup',
  advertise: 'secagg/advertise',
  keys: 'secagg/keys',
  shareKeys: 'secagg/share-keys',
  shares: 'secagg/shares',
  shareCheck: 'secagg/share-check',
  maskRequest: 'secagg/mask-request',
  maskedInput: 'secagg/masked-input',
  consistency: 'secagg/consistency',
  consistencySig: 'secagg/consistency-sig',
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

/**
 * Version of the message flow. A client refuses a setup of any other version, so a server cannot talk it
 * into the older flow without the consistency check.
 */
export const SECAGG_PROTOCOL_VERSION = 2;

/** Server → client: the round's shape and this client's neighbours with their enrolled identity keys. */
export const SetupSchema = z.object({
  version: z.literal(SECAGG_PROTOCOL_VERSION),
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
/**
 * Client → server: the senders whose relayed shares opened and were addressed correctly. A share that did
 * not is left out, which excludes that sender for this pair only.
 */
export const ShareCheckSchema = z.object({ accepted: z.array(id).max(254) });
/** Server → client: the neighbours to pair-mask with (pairs where each accepted the other's shares). */
export const MaskRequestSchema = z.object({ partners: z.array(id).max(254) });
/** Client → server: the masked, quantised update (m values, then weight and clipped fraction). */
export const MaskedInputSchema = z.object({
  vector: z.custom<Uint32Array | Uint8Array>((v) => v instanceof Uint32Array || (v instanceof Uint8Array && v.length % 4 === 0),
    'expected a Uint32Array'),
});
/** Server → client: every client whose masked input is in the sum, sorted (the consistency check). */
export const ConsistencySchema = z.object({ members: z.array(id).min(1).max(65535) });
/** Client → server: its identity signature over (federation, round, members). */
export const ConsistencySigSchema = z.object({ signature: bytes(64) });
/**
 * Server → client: neighbours' signatures over the same member set. The client reveals only with t valid
 * ones, and decides from the set alone whose seed shares and whose key shares it reveals.
 */
export const UnmaskSchema = z.object({ signatures: z.array(z.object({ id, signature: bytes(64) })).max(254) });
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
export type ShareCheckPayload = z.infer<typeof ShareCheckSchema>;
export type MaskRequestPayload = z.infer<typeof MaskRequestSchema>;
export type MaskedInputPayload = { vector: Uint32Array };
export type ConsistencyPayload = z.infer<typeof ConsistencySchema>;
export type ConsistencySigPayload = z.infer<typeof ConsistencySigSchema>;
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
