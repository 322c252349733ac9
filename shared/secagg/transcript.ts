/**
 * Byte strings that get signed or encrypted. Every variable-length field is length-prefixed so no two
 * different tuples encode to the same bytes.
 */
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}
function str(s: string): Uint8Array {
  const b = enc.encode(s);
  return concat([u32(b.length), b]);
}

/** What a client signs in stage 1: both public keys, bound to its id, the federation and the round. */
export function advertiseTranscript(federationId: string, round: number, clientId: string, cPk: Uint8Array, sPk: Uint8Array): Uint8Array {
  return concat([str('fedprofile/secagg/v1/advertise'), str(federationId), u32(round), str(clientId), cPk, sPk]);
}

/**
 * What a survivor signs in the consistency check: the sorted set of clients whose masked input is in the
 * sum. Each honest client signs one set per round, which is what stops a server from telling different
 * clients different stories about who dropped.
 */
export function consistencyTranscript(federationId: string, round: number, members: readonly string[]): Uint8Array {
  return concat([str('fedprofile/secagg/v2/consistency'), str(federationId), u32(round), u32(members.length), ...members.map(str)]);
}

export interface SharePlaintext {
  federationId: string;
  round: number;
  from: string;
  to: string;
  seedShare: Uint8Array;
  keyShare: Uint8Array;
}

const SHARE_TAG = 'fedprofile/secagg/v1/share';

export function encodeSharePlaintext(p: SharePlaintext): Uint8Array {
  return concat([str(SHARE_TAG), str(p.federationId), u32(p.round), str(p.from), str(p.to),
    u32(p.seedShare.length), p.seedShare, u32(p.keyShare.length), p.keyShare]);
}

/** Undefined when the bytes are not a share plaintext. */
export function decodeSharePlaintext(b: Uint8Array): SharePlaintext | undefined {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 0;
  const take = (n: number): Uint8Array | undefined => {
    if (o + n > b.length) return undefined;
    const s = b.subarray(o, o + n); o += n; return s;
  };
  const num = (): number | undefined => {
    if (o + 4 > b.length) return undefined;
    const v = view.getUint32(o, true); o += 4; return v;
  };
  const text = (): string | undefined => {
    const n = num(); if (n === undefined) return undefined;
    const s = take(n); if (!s) return undefined;
    try { return dec.decode(s); } catch { return undefined; }
  };
  const blob = (): Uint8Array | undefined => {
    const n = num(); if (n === undefined) return undefined;
    const s = take(n); return s ? new Uint8Array(s) : undefined;
  };
  if (text() !== SHARE_TAG) return undefined;
  const federationId = text(); const round = num(); const from = text(); const to = text();
  const seedShare = blob(); const keyShare = blob();
  if (federationId === undefined || round === undefined || from === undefined || to === undefined
    || !seedShare || !keyShare || o !== b.length) return undefined;
  return { federationId, round, from, to, seedShare, keyShare };
}
