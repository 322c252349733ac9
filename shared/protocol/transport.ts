import { FedProfileError } from '../errors.js';
import { encodeMessage, decodeMessage } from './codec.js';
import { DecodeBudget, type DecodeBudgetOptions } from './budget.js';
import { FrameAssembler, splitIntoFrames, type ChunkFrame, type UnverifiedTransfer } from './chunks.js';
import { markMessageBuffer } from './message-buffers.js';
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
  /**
   * Runs `fn` once every message this peer already sent has been handed to onMessage (at once when none
   * waits): e.g. a disconnect is handled after the update that arrived just before it.
   */
  afterReceived(fn: () => void): void;
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
    /**
     * Decode and hand over reassembled (chunked) messages one per event-loop turn, process-wide, instead of
     * in the socket read that completed them; later messages of the same peer queue behind, keeping their
     * order. A server with many peers sets this so that fifty 4 MB updates finishing in one read phase do
     * not hold the loop (and every heartbeat) for all fifty.
     */
    serialiseLarge?: boolean;
    /**
     * Read back-pressure of this peer's connection. With it, the frames of large messages share one
     * receive budget per event-loop turn for the whole process (RECEIVE_BYTES_PER_TURN): once a turn has
     * taken that many bytes, every such peer stops reading until the next turn. Without it, a server with
     * fifty clients uploading at once handles whatever all their sockets delivered in one poll phase.
     */
    flow?: ReadFlow;
    /**
     * With serialiseLarge: SHA-256 of a reassembled transfer computed elsewhere (the coordinator's
     * aggregation worker; the bytes travel there and back by transfer) instead of frame by frame on this
     * thread. The message is checked and delivered in its place in the receive queue once the digest is in.
     */
    digest?: (bytes: Uint8Array) => Promise<{ sha256: string; bytes: Uint8Array }>;
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
  const deliver = (bytes: Uint8Array, wire: number): void => {
    let msg: unknown;
    try { msg = decodeMessage(bytes); } catch (e) { opts.onReject(asFedError(e), wire); return; }
    opts.onMessage(msg, wire);
  };
  /** This peer's work waiting in the process-wide receive queue. */
  let waiting = 0;
  const later = (fn: () => void): void => {
    waiting++;
    enqueueReceived(() => { waiting--; fn(); });
  };
  const handleBytes = (bytes: Uint8Array, wire: number, large: boolean): void => {
    if (opts.serialiseLarge && (large || waiting > 0)) {
      // A handler that throws is this peer's message failing, reported like a decode error, not the queue's.
      later(() => { try { deliver(bytes, wire); } catch (e) { opts.onReject(asFedError(e), wire); } });
    }
    else deliver(bytes, wire);
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
    handleBytes(raw, raw.byteLength, false);
  });
  /** A reassembled transfer whose digest is computed by opts.digest: it keeps its place in the queue meanwhile. */
  const verifyThenDeliver = (t: UnverifiedTransfer, digest: NonNullable<typeof opts.digest>): void => {
    waiting++;
    let outcome: () => void = () => undefined;
    const slot = enqueueReceived(() => { waiting--; outcome(); }, false);
    digest(t.bytes).then(({ sha256, bytes }) => {
      outcome = () => {
        if (sha256 !== t.sha256) {
          opts.onReject(new FedProfileError('INTEGRITY', `transfer ${t.id} failed its SHA-256 check`), bytes.byteLength);
          return;
        }
        // Back from the worker in a new ArrayBuffer that still backs only this message.
        markMessageBuffer(bytes.buffer as ArrayBuffer);
        try { deliver(bytes, bytes.byteLength); } catch (e) { opts.onReject(asFedError(e), bytes.byteLength); }
      };
    }, (e: unknown) => {
      outcome = () => opts.onReject(asFedError(e), t.bytes.byteLength);
    }).finally(() => markReady(slot));
  };
  socket.on(CHUNK_EVENT, (raw: unknown) => {
    const wire = raw && typeof raw === 'object' && (raw as { data?: unknown }).data instanceof Uint8Array
      ? ((raw as { data: Uint8Array }).data.byteLength) : 0;
    if (overBudget(wire)) return;
    if (opts.digest && opts.serialiseLarge) {
      let t: UnverifiedTransfer | undefined;
      try { t = assembler.acceptUnverified(raw); } catch (e) { opts.onReject(asFedError(e), wire); return; }
      if (opts.flow) noteReceived(wire);
      if (t) verifyThenDeliver(t, opts.digest);
      return;
    }
    let whole: Uint8Array | undefined;
    try { whole = assembler.accept(raw); } catch (e) { opts.onReject(asFedError(e), wire); return; }
    if (opts.flow) noteReceived(wire);
    if (whole) handleBytes(whole, whole.byteLength, true);
  });
  if (opts.flow) {
    const flow = opts.flow;
    readFlows.add(flow);
    socket.on('disconnect', () => { readFlows.delete(flow); pausedFlows.delete(flow); });
  }
  const outbox: Outbox = { socket, queue: [] };
  const sendPrepared = (p: PreparedMessage): number => {
    // Only a small message with nothing queued ahead of it goes out at once; frames of a large one join the
    // process-wide send queue (see pumpOutboxes), behind this peer's earlier frames.
    if (!p.frames && outbox.queue.length === 0) {
      socket.emit(MESSAGE_EVENT, p.bytes);
      return p.bytes.byteLength;
    }
    if (!p.frames) outbox.queue.push({ event: MESSAGE_EVENT, data: p.bytes });
    else for (const frame of p.frames) outbox.queue.push({ event: CHUNK_EVENT, data: frame });
    schedule(outbox);
    return p.bytes.byteLength;
  };
  return {
    send: (message: unknown): number => sendPrepared(prepareMessage(message, chunkBytes)),
    sendPrepared,
    afterReceived: (fn) => { if (waiting > 0) later(fn); else fn(); },
  };
}

interface Outbox { socket: FrameSocket; queue: Array<{ event: string; data: unknown }> }

/**
 * Large messages go out a few frames per event-loop turn for the whole process, taking turns between peers,
 * so sending a 4 MB model to fifty peers at once never holds the loop (and everyone's heartbeats) for the
 * whole 200 MB: each turn copies at most FRAMES_PER_TURN frames into the sockets.
 */
const sending: Outbox[] = [];
let pumping = false;

function schedule(box: Outbox): void {
  if (!sending.includes(box)) sending.push(box);
  if (!pumping) { pumping = true; setImmediate(pumpOutboxes); }
}

function pumpOutboxes(): void {
  for (let n = 0; n < FRAMES_PER_TURN && sending.length > 0; n++) {
    const box = sending.shift()!;
    const next = box.queue.shift();
    if (next) box.socket.emit(next.event, next.data);
    if (box.queue.length > 0) sending.push(box);
  }
  if (sending.length > 0) setImmediate(pumpOutboxes);
  else pumping = false;
}

/**
 * Reassembled messages (and what must follow them) waiting to be decoded, one per event-loop turn, in
 * arrival order. An entry that is not ready (its digest is being computed) holds back the ones behind it.
 */
interface ReceivedEntry { run: () => void; ready: boolean }
const received: ReceivedEntry[] = [];
let receiving = false;

function enqueueReceived(run: () => void, ready = true): ReceivedEntry {
  const entry = { run, ready };
  received.push(entry);
  kickReceived();
  return entry;
}

function markReady(entry: ReceivedEntry): void {
  entry.ready = true;
  kickReceived();
}

function kickReceived(): void {
  if (!receiving && received[0]?.ready) { receiving = true; setImmediate(drainReceived); }
}

function drainReceived(): void {
  // At least one per turn, more while they are quick (small messages queued behind a large one).
  const start = performance.now();
  do {
    const next = received.shift()!;
    // One peer's failing callback must not stop the others' messages; it still surfaces, as it would have
    // thrown from the socket event that queued it.
    try { next.run(); } catch (e) { setImmediate(() => { throw e; }); }
  } while (received[0]?.ready && performance.now() - start < RECEIVE_TURN_MS);
  if (received[0]?.ready) setImmediate(drainReceived);
  else receiving = false;
}

/** Stops and restarts reading from one peer's connection (e.g. a ws WebSocket's pause/resume). */
export interface ReadFlow { pause(): void; resume(): void }

/**
 * Chunk-frame bytes taken in one event-loop turn, all peers together, before every peer with a ReadFlow
 * stops reading until the next turn: 2 MiB is a few ms of unmasking, copying and hashing. libuv hands one
 * poll phase everything fifty uploading sockets have buffered (up to ~2 MB each); without a budget that
 * is one stall of hundreds of ms.
 */
export const RECEIVE_BYTES_PER_TURN = 2 << 20;

const readFlows = new Set<ReadFlow>();
const pausedFlows = new Set<ReadFlow>();
let turnBytes = 0;
let turnEndScheduled = false;

function noteReceived(bytes: number): void {
  turnBytes += bytes;
  if (!turnEndScheduled) { turnEndScheduled = true; setImmediate(endReceiveTurn); }
  if (turnBytes < RECEIVE_BYTES_PER_TURN) return;
  for (const f of readFlows) {
    if (pausedFlows.has(f)) continue;
    pausedFlows.add(f);
    f.pause();
  }
}

/** Runs in the check phase, after the poll phase that used the budget: the next poll phase reads again. */
function endReceiveTurn(): void {
  turnEndScheduled = false;
  turnBytes = 0;
  const paused = [...pausedFlows];
  pausedFlows.clear();
  for (const f of paused) f.resume();
}

/** Receive work done in one event-loop turn before the rest waits for the next. */
const RECEIVE_TURN_MS = 4;

/** Frames (of CHUNK_BYTES, so 8 MiB) emitted per event-loop turn, all peers of this process together: a few ms of copying. */
export const FRAMES_PER_TURN = 16;

export function asFedError(e: unknown): FedProfileError {
  if (e instanceof FedProfileError) return e;
  return new FedProfileError('INTERNAL', e instanceof Error ? e.message : String(e));
}
