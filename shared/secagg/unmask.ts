import { x25519, x25519Private } from './keys.js';
import { addMask, pairMaskKey, pairSign, selfMaskKey } from './prg.js';

/**
 * The vector-sized part of unmasking, as plain data so it can run on a worker thread: the running sum of
 * the masked inputs, the rebuilt self-mask seeds of the contributors, and the rebuilt mask keys of clients
 * that dropped after masking partners, with those partners' advertised public keys.
 */
export interface UnmaskJob {
  federationId: string;
  round: number;
  sum: Uint32Array;
  seeds: Array<{ owner: string; seed: Uint8Array }>;
  dropped: Array<{ owner: string; secretKey: Uint8Array; partners: Array<{ id: string; sPk: Uint8Array }> }>;
}

/**
 * Removes every self mask and every pair mask a contributor shared with a dropped client, in place, and
 * zero-fills the seeds and keys it was given. Returns the number of pair masks removed.
 */
export function runUnmaskJob(job: UnmaskJob): number {
  const { federationId, round, sum } = job;
  let pairMasksRemoved = 0;
  for (const { owner, seed } of job.seeds) {
    const key = selfMaskKey(seed, federationId, round, owner);
    addMask(sum, key, -1);
    key.fill(0);
    seed.fill(0);
  }
  for (const { owner, secretKey, partners } of job.dropped) {
    const priv = x25519Private(secretKey);
    for (const u of partners) {
      const shared = x25519(priv, u.sPk);
      if (!shared) continue;
      const key = pairMaskKey(shared, federationId, round, u.id, owner);
      // u added pairSign(u, owner) · PRG(s); take it back out.
      addMask(sum, key, pairSign(u.id, owner) === 1 ? -1 : 1);
      shared.fill(0);
      key.fill(0);
      pairMasksRemoved++;
    }
    secretKey.fill(0);
  }
  return pairMasksRemoved;
}
