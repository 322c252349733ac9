import { createCipheriv, hkdfSync } from 'node:crypto';

/**
 * Mask expansion: ChaCha20 from node:crypto over zeros, keyed by a full 32-byte key from HKDF-SHA256.
 * Keys are bound to the federation, the round and the ordered pair (or the owner, for self masks), so a
 * mask is never reused across rounds or pairs and the all-zero IV is safe.
 * The stream is read as little-endian 32-bit words (every supported platform is little-endian).
 */
const IV = Buffer.alloc(16);
const DOMAIN = 'fedprofile/secagg/v1';

function lp(s: string): string {
  return `${Buffer.byteLength(s)}:${s}`;
}

export function pairMaskKey(sharedSecret: Uint8Array, federationId: string, round: number, a: string, b: string): Uint8Array {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  const info = `${DOMAIN}/pair|${lp(federationId)}|${round}|${lp(lo)}|${lp(hi)}`;
  return new Uint8Array(hkdfSync('sha256', sharedSecret, new Uint8Array(0), info, 32));
}

export function selfMaskKey(seed: Uint8Array, federationId: string, round: number, owner: string): Uint8Array {
  const info = `${DOMAIN}/self|${lp(federationId)}|${round}|${lp(owner)}`;
  return new Uint8Array(hkdfSync('sha256', seed, new Uint8Array(0), info, 32));
}

/**
 * Key of a client's seeded stochastic-rounding stream (simulations only, see `SecAggClientOptions.roundingSeed`).
 * Its own HKDF domain keeps it apart from every mask key, and binding the round and owner gives each client
 * and round its own stream even when one seed is reused.
 */
export function roundingKey(seed: Uint8Array, federationId: string, round: number, owner: string): Uint8Array {
  const info = `${DOMAIN}/rounding|${lp(federationId)}|${round}|${lp(owner)}`;
  return new Uint8Array(hkdfSync('sha256', seed, new Uint8Array(0), info, 32));
}

/** +1 when `self` adds the pair mask, −1 when it subtracts it; the two ends of a pair get opposite signs. */
export function pairSign(self: string, other: string): 1 | -1 {
  return self < other ? 1 : -1;
}

// Streams are produced in slices that stay in cache while they are folded into the target.
const SLICE_WORDS = 1 << 15;
const ZEROS = Buffer.alloc(SLICE_WORDS * 4);

/** target += sign · ChaCha20(key) over Z_2^32, element-wise (typed-array stores wrap modulo 2^32). */
export function addMask(target: Uint32Array, key: Uint8Array, sign: 1 | -1): void {
  const cipher = createCipheriv('chacha20', key, IV);
  const len = target.length;
  for (let off = 0; off < len; off += SLICE_WORDS) {
    const words = Math.min(SLICE_WORDS, len - off);
    let bytes = cipher.update(words === SLICE_WORDS ? ZEROS : ZEROS.subarray(0, words * 4));
    if (bytes.byteOffset % 4 !== 0) bytes = Buffer.from(bytes);
    const s = new Uint32Array(bytes.buffer, bytes.byteOffset, words);
    if (sign === 1) for (let i = 0; i < words; i++) target[off + i] = target[off + i]! + s[i]!;
    else for (let i = 0; i < words; i++) target[off + i] = target[off + i]! - s[i]!;
  }
}

/** The mask itself, for tests and diagnostics. */
export function expandMask(key: Uint8Array, length: number): Uint32Array {
  const out = new Uint32Array(length);
  addMask(out, key, 1);
  return out;
}
