/** Endianness helpers: every byte format the project writes is little-endian, whatever the host is. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Little-endian float32 bytes of a vector; a zero-copy view on little-endian hosts. */
export function float32ToLittleEndianBytes(values: Float32Array): Uint8Array {
  if (HOST_IS_LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}

/** Reads `count` little-endian float32 values starting at `byteOffset`; always returns a fresh array. */
export function float32FromLittleEndianBytes(bytes: Uint8Array, byteOffset: number, count: number): Float32Array {
  const start = bytes.byteOffset + byteOffset;
  if (HOST_IS_LITTLE_ENDIAN) {
    if (start % 4 === 0) return new Float32Array(bytes.buffer, start, count).slice();
    return new Float32Array(bytes.buffer.slice(start, start + count * 4));
  }
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, start, count * 4);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
