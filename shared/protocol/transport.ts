import { FedProfileError } from '../errors.js';
import { encodeMessage, decodeMessage } from './codec.js';
import { DecodeBudget, type DecodeBudgetOptions } from './budget.js';
import { FrameAssembler, splitIntoFrames, type ChunkFrame } from './chunks.js';
import { CHUNK_BYTES, CHUNK_EVENT, MESSAGE_EVENT } from './version.js';

/**
 * The part of a socket.io socket (server or client side) the framing needs, so both ends share it.
 */
export interface FrameSocket {
  emit(event: string, ...args: unknown[]): unknown;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** A message encoded (and chunked) once, to send the same bytes to many peers, e.g. a model version. */
export interface PreparedMessage { bytes: Uint8Array; frames?: ChunkFrame[] }

export function prepareMessage(message: unknown, chunkBytes = CHUNK_BYTES): PreparedMessage {
  const bytes = encodeMessage(message);
  return bytes.byteLength <= chunkBytes ? { bytes } : { bytes, frames: splitIntoFrames(bytes, chunkBytes) };
}

export interface FramedPeer {
  /** Encodes, chunks if needed, emits. Returns the bytes put on the wire. */
  send(message: unknown): number;
  sendPrepared(prepared: PreparedMessage): number;
}

/**
 * Wires message framing onto a socket: decoded messages (or the error that rejected them) are handed to
 * `onMessage` / `onReject`, along with the number of bytes received, so the caller can validate and count.
 */
export function frameSocket(
  socket: FrameSocket,
  opts: {
    maxMessageBytes: number;
    onMessage: (message: unknown, bytes: number) => void;
    onReject: (error: FedProfileError, bytes: number) => void;
    chunkBytes?: number;
    /** Bytes a peer may have reserved in unfinished chunked transfers (default: one maximum-size message). */
    maxBytesInFlight?: number;
    /** Decode work this peer may cause (default: unlimited, e.g. a client trusting its coordinator). */
    decodeBudget?: DecodeBudgetOptions;
  },
): FramedPeer {
  const chunkBytes = opts.chunkBytes ?? CHUNK_BYTES;
  const assembler = new FrameAssembler(opts.maxMessageBytes, 4, opts.maxBytesInFlight ?? opts.maxMessageBytes);
  const budget = opts.decodeBudget ? new DecodeBudget(opts.decodeBudget) : undefined;
  const overBudget = (bytes: number): boolean => {
    if (!budget || budget.take(bytes)) return false;
    opts.onReject(new FedProfileError('PAYLOAD_TOO_LARGE', 'decode budget exceeded: this connection sends faster than the coordinator accepts; slow down', { bytes }), bytes);
    return true;
  };
  const handleBytes = (bytes: Uint8Array, wire: number): void => {
    let msg: unknown;
    try { msg = decodeMessage(bytes); } catch (e) { opts.onReject(asFedError(e), wire); return; }
    opts.onMessage(msg, wire);
  };
  socket.on(MESSAGE_EVENT, (raw: unknown) => {
    if (!(raw instanceof Uint8Array)) {
      opts.onReject(new FedProfileError('PROTOCOL', 'malformed message: expected a binary fedprofile frame'), 0);
      return;
    }
    if (raw.byteLength > opts.maxMessageBytes) {
      opts.onReject(new FedProfileError('PAYLOAD_TOO_LARGE', `message of ${raw.byteLength} bytes exceeds the limit of ${opts.maxMessageBytes} bytes`), raw.byteLength);
      return;
    }
    if (overBudget(raw.byteLength)) return;
    handleBytes(raw, raw.byteLength);
  });
  socket.on(CHUNK_EVENT, (raw: unknown) => {
    const wire = raw && typeof raw === 'object' && (raw as { data?: unknown }).data instanceof Uint8Array
      ? ((raw as { data: Uint8Array }).data.byteLength) : 0;
    if (overBudget(wire)) return;
    let whole: Uint8Array | undefined;
    try { whole = assembler.accept(raw); } catch (e) { opts.onReject(asFedError(e), wire); return; }
    if (whole) handleBytes(whole, whole.byteLength);
  });
  // Large messages go out a few frames per event-loop turn, so sending a 40 MB model to many peers at once
  // does not hold the loop (and everyone's heartbeats) for the whole write. Later messages queue behind,
  // keeping each peer's messages in order.
  const queue: Array<{ event: string; data: unknown }> = [];
  let pumping = false;
  const pump = (): void => {
    for (let n = 0; n < FRAMES_PER_TURN && queue.length > 0; n++) {
      const next = queue.shift()!;
      socket.emit(next.event, next.data);
    }
    if (queue.length > 0) setImmediate(pump);
    else pumping = false;
  };
  const sendPrepared = (p: PreparedMessage): number => {
    if (!pumping && (!p.frames || p.frames.length <= FRAMES_PER_TURN)) {
      if (!p.frames) socket.emit(MESSAGE_EVENT, p.bytes);
      else for (const frame of p.frames) socket.emit(CHUNK_EVENT, frame);
      return p.bytes.byteLength;
    }
    if (!p.frames) queue.push({ event: MESSAGE_EVENT, data: p.bytes });
    else for (const frame of p.frames) queue.push({ event: CHUNK_EVENT, data: frame });
    if (!pumping) { pumping = true; pump(); }
    return p.bytes.byteLength;
  };
  return {
    send: (message: unknown): number => sendPrepared(prepareMessage(message, chunkBytes)),
    sendPrepared,
  };
}

/** Frames (of CHUNK_BYTES) emitted per event-loop turn by one peer. */
const FRAMES_PER_TURN = 4;

export function asFedError(e: unknown): FedProfileError {
  if (e instanceof FedProfileError) return e;
  return new FedProfileError('INTERNAL', e instanceof Error ? e.message : String(e));
}
