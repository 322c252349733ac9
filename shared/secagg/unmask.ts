import { x25519, x25519Private, x25519PublicKey } from './keys.js';
import { addMask, pairMaskKey, pairSign, selfMaskKey } from './prg.js';
import { combineShares } from './shamir.js';

/**
 * Everything unmasking needs, as plain data so it can run on a worker thread: the running sum of the
 * masked inputs, the unmask shares of every contributor's self-mask seed, and those of the mask key of
 * every client that dropped after masking, with its advertised public key and its contributing partners.
 */
export interface UnmaskJob {
  federationId: string;
  round: number;
  threshold: number;
  sum: Uint32Array;
  /** Length of every share (Shamir shares of 32-byte secrets: 33). */
  shareLength: number;
  /** Each owner's shares back to back in one array, so handing a job to a worker copies few objects. */
  seeds: Array<{ owner: string; shares: Uint8Array }>;
  /** `partnerKeys` holds the partners' 32-byte public keys back to back, in the order of `partners`. */
  dropped: Array<{ owner: string; shares: Uint8Array; sPk: Uint8Array; partners: string[]; partnerKeys: Uint8Array }>;
}

/** Shares back to back, as UnmaskJob carries them. */
export function packShares(shares: readonly Uint8Array[], shareLength: number): Uint8Array {
  const out = new Uint8Array(shares.length * shareLength);
  for (let i = 0; i < shares.length; i++) {
    const s = shares[i]!;
    out.set(s.length === shareLength ? s : s.subarray(0, shareLength), i * shareLength);
  }
  return out;
}

function unpackShares(packed: Uint8Array, shareLength: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o + shareLength <= packed.length; o += shareLength) out.push(packed.subarray(o, o + shareLength));
  return out;
}

export type UnmaskResult = { ok: true; sum: Uint32Array; pairMasksRemoved: number } | { ok: false; reason: string };

/**
 * Rebuilds the seeds and keys from their shares, removes every self mask and every pair mask a contributor
 * shared with a dropped client (in place), and zero-fills the shares and everything rebuilt from them.
 */
export function runUnmaskJob(job: UnmaskJob): UnmaskResult {
  const { federationId, round, sum, threshold: t, shareLength } = job;
  const secrets: Uint8Array[] = [];
  const wipe = (): void => {
    for (const s of secrets) s.fill(0);
    for (const x of [...job.seeds, ...job.dropped]) x.shares.fill(0);
  };
  try {
    const seeds: Array<{ owner: string; seed: Uint8Array }> = [];
    for (const { owner, shares } of job.seeds) {
      const seed = reconstruct(unpackShares(shares, shareLength), t);
      if (!seed) return { ok: false, reason: `the seed shares of ${owner} are inconsistent` };
      secrets.push(seed);
      seeds.push({ owner, seed });
    }
    const keys: Array<{ owner: string; sk: Uint8Array; partners: string[]; partnerKeys: Uint8Array }> = [];
    for (const { owner, shares, sPk, partners, partnerKeys } of job.dropped) {
      const sk = reconstruct(unpackShares(shares, shareLength), t);
      if (sk) secrets.push(sk);
      if (!sk || sk.length !== 32 || !bytesEqual(x25519PublicKey(sk), sPk)) {
        return { ok: false, reason: `the key shares of dropped client ${owner} do not rebuild its advertised mask key` };
      }
      keys.push({ owner, sk, partners, partnerKeys });
    }
    for (const { owner, seed } of seeds) {
      const key = selfMaskKey(seed, federationId, round, owner);
      addMask(sum, key, -1);
      key.fill(0);
    }
    let pairMasksRemoved = 0;
    for (const { owner, sk, partners, partnerKeys } of keys) {
      const priv = x25519Private(sk);
      for (let i = 0; i < partners.length; i++) {
        const u = partners[i]!;
        const shared = x25519(priv, partnerKeys.subarray(32 * i, 32 * i + 32));
        if (!shared) return { ok: false, reason: `no pair secret between ${owner} and ${u}` };
        const key = pairMaskKey(shared, federationId, round, u, owner);
        // u added pairSign(u, owner) · PRG(s); take it back out.
        addMask(sum, key, pairSign(u, owner) === 1 ? -1 : 1);
        shared.fill(0);
        key.fill(0);
        pairMasksRemoved++;
      }
    }
    return { ok: true, sum, pairMasksRemoved };
  } finally {
    wipe();
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Combines t shares; when more arrived, a second, different t-subset must agree (catches a corrupted share). */
function reconstruct(shares: Uint8Array[], t: number): Uint8Array | undefined {
  const a = combineShares(shares.slice(0, t));
  if (!a) return undefined;
  if (shares.length > t) {
    const b = combineShares(shares.slice(shares.length - t));
    if (!b || !bytesEqual(a, b)) { a.fill(0); b?.fill(0); return undefined; }
    b.fill(0);
  }
  return a;
}
