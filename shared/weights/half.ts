/**
 * IEEE 754 binary16 conversion with round-to-nearest-even, subnormals, ±Inf and NaN.
 * Error bound of a round trip f32 → f16 → f32 for finite x:
 *   |x| ≥ 2^-14 (normal range, up to 65504): relative error ≤ 2^-11 (≈ 4.9e-4);
 *   |x| < 2^-14 (subnormal range):            absolute error ≤ 2^-25 (≈ 3.0e-8);
 *   |x| ≥ 65520:                              becomes ±Infinity (the nearest-even result overflows).
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float32ToHalfBits(x: number): number {
  f32[0] = x;
  return float32BitsToHalfBits(u32[0]!);
}

/** Same as float32ToHalfBits, from the raw IEEE bits (lets callers read a whole Uint32Array view). */
export function float32BitsToHalfBits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Below half the smallest subnormal (2^-25) everything rounds to zero.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) === 1)) half++;
    // A carry out of the subnormal mantissa lands exactly on the smallest normal (0x0400): still correct.
    return sign | half;
  }
  let out = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry may ripple into the exponent (and up to Infinity): that is the correct rounding.
  if (rem > 0x1000 || (rem === 0x1000 && (out & 1) === 1)) out++;
  return out;
}

export function halfBitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

let table: Float32Array | null = null;

/** All 65,536 half values as float32 (256 KiB, built once): decoding becomes one lookup per element. */
export function halfToFloat32Table(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfBitsToFloat32(h);
  }
  return table;
}
