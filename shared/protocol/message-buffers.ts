/**
 * Buffers that back exactly one received message and nothing else: the transport allocated them to
 * reassemble a chunked transfer, and once the message is decoded nobody but its consumer holds them. Only
 * such a buffer may be transferred to a worker whole (detaching it here) instead of copying the part a typed
 * array views. A socket's read buffers are never listed: they can hold the start of the next message.
 */
const soleOwned = new WeakSet<ArrayBuffer>();

export function markMessageBuffer(buffer: ArrayBuffer): void {
  soleOwned.add(buffer);
}

/** True when `view` may take its whole buffer with it (transfer, no copy). */
export function ownsItsBuffer(view: ArrayBufferView): boolean {
  const buffer = view.buffer;
  if (!(buffer instanceof ArrayBuffer)) return false;
  return (view.byteOffset === 0 && view.byteLength === buffer.byteLength) || soleOwned.has(buffer);
}
