import { FedProfileError } from '../errors.js';

/**
 * Binary envelope for protocol messages: JSON for the structure, raw bytes for typed arrays, so weight
 * vectors travel at 4 bytes per float and come back as the same typed-array kind (socket.io alone would
 * turn a Float32Array into a Buffer). Layout: "FPM1", u32 JSON length, JSON, then 8-byte-aligned blobs.
 */
const MAGIC = 0x314d5046; // "FPM1" little-endian

type BinKind = 'u8' | 'i32' | 'u32' | 'f32' | 'f64';
const CTORS = {
  u8: Uint8Array, i32: Int32Array, u32: Uint32Array, f32: Float32Array, f64: Float64Array,
} as const;

function kindOf(v: ArrayBufferView): BinKind | undefined {
  if (v instanceof Uint8Array) return 'u8';
  if (v instanceof Int32Array) return 'i32';
  if (v instanceof Uint32Array) return 'u32';
  if (v instanceof Float32Array) return 'f32';
  if (v instanceof Float64Array) return 'f64';
  return undefined;
}

const align8 = (n: number): number => (n + 7) & ~7;

export function encodeMessage(value: unknown): Uint8Array {
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const lower = (v: unknown, depth: number): unknown => {
    if (depth > 32) throw new FedProfileError('BAD_INPUT', 'message nests deeper than 32 levels');
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new FedProfileError('BAD_INPUT', `message holds a non-finite number (${v})`);
      return v;
    }
    if (v === undefined) return undefined;
    if (ArrayBuffer.isView(v)) {
      const kind = kindOf(v);
      if (!kind) throw new FedProfileError('BAD_INPUT', `unsupported typed array ${v.constructor.name} in message`);
      const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      const at = offset;
      blobs.push(bytes);
      offset = align8(offset + bytes.byteLength);
      return { $bin: kind, at, n: bytes.byteLength };
    }
    if (Array.isArray(v)) return v.map((x) => lower(x, depth + 1));
    if (typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (x !== undefined) out[k] = lower(x, depth + 1);
      }
      return out;
    }
    throw new FedProfileError('BAD_INPUT', `cannot encode a ${typeof v} in a message`);
  };
  const json = new TextEncoder().encode(JSON.stringify(lower(value, 0)));
  const head = align8(8 + json.byteLength);
  const out = new Uint8Array(head + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, json.byteLength, true);
  out.set(json, 8);
  let at = head;
  for (const b of blobs) {
    out.set(b, at);
    at = align8(at + b.byteLength);
  }
  return out;
}

export function decodeMessage(bytes: Uint8Array): unknown {
  const bad = (why: string): FedProfileError => new FedProfileError('PROTOCOL', `malformed message: ${why}`);
  if (!(bytes instanceof Uint8Array)) throw bad('expected binary data');
  if (bytes.byteLength < 8) throw bad('shorter than its header');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw bad('wrong magic number (not a fedprofile message)');
  const jsonLen = dv.getUint32(4, true);
  if (8 + jsonLen > bytes.byteLength) throw bad('JSON part runs past the end');
  let tree: unknown;
  try {
    tree = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + jsonLen)));
  } catch {
    throw bad('JSON part does not parse');
  }
  const base = align8(8 + jsonLen);
  // Decode work must stay proportional to the message size: each binary region may be referenced once, and
  // the referenced bytes together can never exceed the blob area. Without this, one 1 MB message that names
  // the same blob thousands of times asks for gigabytes of copies.
  const blobArea = bytes.byteLength - base;
  const seen = new Set<number>();
  let referenced = 0;
  const lift = (v: unknown, depth: number): unknown => {
    if (depth > 32) throw bad('nests deeper than 32 levels');
    if (Array.isArray(v)) return v.map((x) => lift(x, depth + 1));
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.$bin === 'string') {
        const kind = o.$bin as BinKind;
        const ctor = Object.hasOwn(CTORS, kind) ? CTORS[kind] : undefined;
        const at = o.at, n = o.n;
        if (!ctor || typeof at !== 'number' || typeof n !== 'number' || !Number.isInteger(at) || !Number.isInteger(n)
          || at < 0 || n < 0 || base + at + n > bytes.byteLength || n % ctor.BYTES_PER_ELEMENT !== 0) {
          throw bad('binary reference out of bounds');
        }
        if (seen.has(at)) throw bad(`binary region at ${at} is referenced more than once`);
        seen.add(at);
        referenced += n;
        if (referenced > blobArea) throw bad('binary references overlap (they name more bytes than the message carries)');
        const start = bytes.byteOffset + base + at;
        // Aligned blobs are used in place (a view, no copy). Misaligned ones cannot back a typed array and
        // small ones are copied so they do not pin a whole socket buffer; either way the copies made for one
        // message add up to at most its own size (see `referenced`).
        if (start % ctor.BYTES_PER_ELEMENT === 0 && n * 2 >= bytes.byteLength) {
          return new ctor(bytes.buffer as ArrayBuffer, start, n / ctor.BYTES_PER_ELEMENT);
        }
        const copy = new Uint8Array(n);
        copy.set(bytes.subarray(base + at, base + at + n));
        return new ctor(copy.buffer, 0, n / ctor.BYTES_PER_ELEMENT);
      }
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(o)) {
        // Assigning "__proto__" would swap the object's prototype instead of adding a field.
        if (k === '__proto__') throw bad('the key "__proto__" is not allowed');
        out[k] = lift(x, depth + 1);
      }
      return out;
    }
    return v;
  };
  return lift(tree, 0);
}
