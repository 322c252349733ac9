import { FedProfileError } from '../errors.js';
import { HOST_IS_LITTLE_ENDIAN, float32FromLittleEndianBytes, float32ToLittleEndianBytes } from './bytes.js';
import { float32BitsToHalfBits, halfToFloat32Table } from './half.js';

/**
 * Self-describing vector encodings for transfer. Layout (all little-endian):
 *   0  4  magic "FPVC"
 *   4  1  format version (1)
 *   5  1  codec: 1 = f32, 2 = f16, 3 = q8
 *   6  2  reserved (0)
 *   8  4  element count n (uint32)
 *  12  4  q8 chunk size c (uint32; 0 for f32/f16)
 *  16  …  payload
 *     f32: n × float32
 *     f16: n × binary16
 *     q8:  ceil(n/c) × (min: float32, step: float32), then n × uint8, x̂ = min + q·step
 *
 * Error bounds of decode(encode(x)) for finite x:
 *   f32: exact (bit for bit, NaN payloads aside).
 *   f16: see half.ts — relative ≤ 2^-11 in the normal range, absolute ≤ 2^-25 below it, |x| ≥ 65520 → ±Inf.
 *   q8:  per chunk, step = (max − min)/255 and |x − x̂| ≤ step/2 + float32 rounding
 *        (≤ (max − min)/510 · (1 + 2^-20) + 2^-24·max(|min|,|max|)). Non-finite values are rejected.
 */
export type VectorCodec = 'f32' | 'f16' | 'q8';

const MAGIC = [0x46, 0x50, 0x56, 0x43]; // "FPVC"
const FORMAT_VERSION = 1;
const HEADER_BYTES = 16;
const CODEC_IDS: Record<VectorCodec, number> = { f32: 1, f16: 2, q8: 3 };
const CODEC_NAMES: Record<number, VectorCodec> = { 1: 'f32', 2: 'f16', 3: 'q8' };
export const DEFAULT_Q8_CHUNK = 4096;

export interface EncodeOptions {
  /** Elements per q8 chunk (own min/step each). Smaller chunks: tighter error, 8 bytes overhead per chunk. */
  chunkSize?: number;
}

function header(codec: VectorCodec, n: number, chunk: number, payloadBytes: number): { out: Uint8Array; view: DataView } {
  const out = new Uint8Array(HEADER_BYTES + payloadBytes);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint8(4, FORMAT_VERSION);
  view.setUint8(5, CODEC_IDS[codec]);
  view.setUint32(8, n, true);
  view.setUint32(12, chunk, true);
  return { out, view };
}

export function encodeVector(values: Float32Array, codec: VectorCodec, opts: EncodeOptions = {}): Uint8Array {
  const n = values.length;
  if (n > 0xffffffff) throw new FedProfileError('BAD_INPUT', `vector too long to encode (${n} elements)`);
  if (codec === 'f32') {
    const { out } = header('f32', n, 0, n * 4);
    out.set(float32ToLittleEndianBytes(values), HEADER_BYTES);
    return out;
  }
  if (codec === 'f16') {
    const { out, view } = header('f16', n, 0, n * 2);
    // A Float32Array's byteOffset is always a multiple of 4, so its bits can be read as a Uint32Array.
    const bits = new Uint32Array(values.buffer, values.byteOffset, n);
    if (HOST_IS_LITTLE_ENDIAN) {
      const halves = new Uint16Array(out.buffer, HEADER_BYTES, n);
      for (let i = 0; i < n; i++) halves[i] = float32BitsToHalfBits(bits[i]!);
    } else {
      for (let i = 0; i < n; i++) view.setUint16(HEADER_BYTES + 2 * i, float32BitsToHalfBits(bits[i]!), true);
    }
    return out;
  }
  if (codec === 'q8') return encodeQ8(values, opts.chunkSize ?? DEFAULT_Q8_CHUNK);
  throw new FedProfileError('BAD_INPUT', `unknown vector codec "${String(codec)}" (expected f32, f16 or q8)`);
}

function encodeQ8(values: Float32Array, chunk: number): Uint8Array {
  if (!Number.isInteger(chunk) || chunk < 1 || chunk > 0xffffffff) {
    throw new FedProfileError('BAD_INPUT', `q8 chunkSize must be a positive integer, got ${chunk}`);
  }
  const n = values.length;
  const chunks = Math.ceil(n / chunk);
  const { out, view } = header('q8', n, chunk, chunks * 8 + n);
  const qStart = HEADER_BYTES + chunks * 8;
  for (let c = 0; c < chunks; c++) {
    const from = c * chunk;
    const to = Math.min(n, from + chunk);
    let min = Infinity;
    let max = -Infinity;
    for (let i = from; i < to; i++) {
      const x = values[i]!;
      if (!Number.isFinite(x)) {
        throw new FedProfileError('BAD_INPUT', `q8 cannot encode non-finite value ${x} at index ${i}`, { index: i });
      }
      if (x < min) min = x;
      if (x > max) max = x;
    }
    // Stored as float32; dequantising with the stored values keeps encoder and decoder in agreement.
    const minF = Math.fround(min);
    const step = Math.fround((max - min) / 255);
    if (!Number.isFinite(step)) {
      throw new FedProfileError('BAD_INPUT', `q8 cannot encode chunk ${c}: its range ${min}..${max} overflows float32`);
    }
    view.setFloat32(HEADER_BYTES + c * 8, minF, true);
    view.setFloat32(HEADER_BYTES + c * 8 + 4, step, true);
    if (step > 0) {
      // x − min ≥ 0 (min is the chunk's exact float32 minimum), so (t + 0.5) | 0 is round-half-up.
      for (let i = from; i < to; i++) {
        const q = ((values[i]! - minF) / step + 0.5) | 0;
        out[qStart + i] = q > 255 ? 255 : q;
      }
    }
  }
  return out;
}

function corrupt(problem: string): FedProfileError {
  return new FedProfileError('INTEGRITY', `encoded vector is corrupt: ${problem}`);
}

/** The codec and element count of an encoded vector, without decoding it. */
export function inspectEncodedVector(bytes: Uint8Array): { codec: VectorCodec; length: number; chunkSize: number } {
  if (bytes.length < HEADER_BYTES) throw corrupt(`${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) throw corrupt('bad magic (not an FPVC vector)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(4);
  if (version !== FORMAT_VERSION) throw corrupt(`unsupported format version ${version}`);
  const codec = CODEC_NAMES[view.getUint8(5)];
  if (!codec) throw corrupt(`unknown codec id ${view.getUint8(5)}`);
  const length = view.getUint32(8, true);
  const chunkSize = view.getUint32(12, true);
  const expected = HEADER_BYTES + payloadBytes(codec, length, chunkSize);
  if (bytes.length !== expected) throw corrupt(`expected ${expected} bytes for ${length} ${codec} values, got ${bytes.length}`);
  return { codec, length, chunkSize };
}

function payloadBytes(codec: VectorCodec, n: number, chunk: number): number {
  if (codec === 'f32') return n * 4;
  if (codec === 'f16') return n * 2;
  if (chunk === 0) {
    if (n === 0) return 0;
    throw corrupt('q8 chunk size is 0');
  }
  return Math.ceil(n / chunk) * 8 + n;
}

export function decodeVector(bytes: Uint8Array): Float32Array {
  const { codec, length: n, chunkSize } = inspectEncodedVector(bytes);
  if (codec === 'f32') return float32FromLittleEndianBytes(bytes, HEADER_BYTES, n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  if (codec === 'f16') {
    const table = halfToFloat32Table();
    if (HOST_IS_LITTLE_ENDIAN && (bytes.byteOffset + HEADER_BYTES) % 2 === 0) {
      const halves = new Uint16Array(bytes.buffer, bytes.byteOffset + HEADER_BYTES, n);
      for (let i = 0; i < n; i++) out[i] = table[halves[i]!]!;
    } else {
      for (let i = 0; i < n; i++) out[i] = table[view.getUint16(HEADER_BYTES + 2 * i, true)]!;
    }
    return out;
  }
  const chunks = n === 0 ? 0 : Math.ceil(n / chunkSize);
  const qStart = HEADER_BYTES + chunks * 8;
  for (let c = 0; c < chunks; c++) {
    const min = view.getFloat32(HEADER_BYTES + c * 8, true);
    const step = view.getFloat32(HEADER_BYTES + c * 8 + 4, true);
    if (!Number.isFinite(min) || !Number.isFinite(step) || step < 0) throw corrupt(`q8 chunk ${c} has invalid min/step`);
    const to = Math.min(n, (c + 1) * chunkSize);
    for (let i = c * chunkSize; i < to; i++) out[i] = min + bytes[qStart + i]! * step;
  }
  return out;
}
