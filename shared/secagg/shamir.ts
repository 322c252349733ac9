import { randomBytes } from 'node:crypto';

/**
 * Shamir secret sharing over GF(2^8), byte-for-byte compatible with `shamir-secret-sharing` 0.0.4 (same
 * field polynomial x^8+x^4+x^3+x+1 and share layout: y-bytes ‖ x). That library only offers a Promise API,
 * and the SecAgg+ state machines are synchronous (messages in, messages out), so the same construction is
 * done here synchronously; the tests check interoperability with the library in both directions.
 */
const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
(() => {
  // 0xe5 generates the multiplicative group, as in the library's tables.
  const mulSlow = (a: number, b: number): number => {
    let r = 0;
    while (b) {
      if (b & 1) r ^= a;
      a = (a << 1) ^ (a & 0x80 ? 0x11b : 0);
      b >>= 1;
    }
    return r;
  };
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    EXP[i + 255] = x;
    LOG[x] = i;
    x = mulSlow(x, 0xe5);
  }
})();

function mul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!;
}
function div(a: number, b: number): number {
  return a === 0 ? 0 : EXP[LOG[a]! + 255 - LOG[b]!]!;
}

/** Splits `secret` into `count` shares, any `threshold` of which rebuild it. */
export function splitSecret(secret: Uint8Array, count: number, threshold: number): Uint8Array[] {
  if (!(count >= 1 && count <= 255 && threshold >= 1 && threshold <= count)) {
    throw new RangeError(`cannot split into ${count} shares with threshold ${threshold}`);
  }
  // Distinct non-zero x coordinates, drawn by a partial Fisher–Yates over 1..255.
  const xs = new Uint8Array(255);
  for (let i = 0; i < 255; i++) xs[i] = i + 1;
  const r = randomBytes(2 * count);
  for (let i = 0; i < count; i++) {
    const j = i + (((r[2 * i]! << 8) | r[2 * i + 1]!) % (255 - i));
    const t = xs[i]!; xs[i] = xs[j]!; xs[j] = t;
  }
  const len = secret.length;
  const shares = Array.from({ length: count }, (_, i) => {
    const s = new Uint8Array(len + 1);
    s[len] = xs[i]!;
    return s;
  });
  const coeffs = randomBytes(len * (threshold - 1));
  for (let b = 0; b < len; b++) {
    for (let i = 0; i < count; i++) {
      const x = xs[i]!;
      // Horner: highest coefficient first; the constant term is the secret byte.
      let y = 0;
      for (let d = threshold - 2; d >= 0; d--) y = mul(y, x) ^ coeffs[b * (threshold - 1) + d]!;
      shares[i]![b] = mul(y, x) ^ secret[b]!;
    }
  }
  return shares;
}

/** Rebuilds a secret from shares (all of equal length, distinct x). Returns undefined if they are inconsistent in shape. */
export function combineShares(shares: readonly Uint8Array[]): Uint8Array | undefined {
  if (shares.length === 0) return undefined;
  const len = shares[0]!.length - 1;
  if (len < 1 || shares.some((s) => s.length !== len + 1)) return undefined;
  const xs = shares.map((s) => s[len]!);
  if (xs.some((x) => x === 0) || new Set(xs).size !== xs.length) return undefined;
  // Lagrange basis at 0 in characteristic 2, kept as logarithms: l_i = Π_{j≠i} x_j / (x_i ⊕ x_j).
  const logBasis = xs.map((xi, i) => {
    let l = 0;
    for (let j = 0; j < xs.length; j++) if (j !== i) l += LOG[xs[j]!]! + 255 - LOG[xi ^ xs[j]!]!;
    return l % 255;
  });
  const out = new Uint8Array(len);
  for (let i = 0; i < shares.length; i++) {
    const s = shares[i]!;
    const lb = logBasis[i]!;
    for (let b = 0; b < len; b++) {
      const y = s[b]!;
      if (y !== 0) out[b] ^= EXP[LOG[y]! + lb]!;
    }
  }
  return out;
}
