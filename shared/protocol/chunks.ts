import { createHash, randomUUID, type Hash } from 'node:crypto';
import { z } from 'zod';
import { FedProfileError } from '../errors.js';
import { markMessageBuffer } from './message-buffers.js';

/**
 * Splitting one encoded message into frames that fit under socket.io's maxHttpBufferSize, and putting it
 * back together with a SHA-256 check. Every frame repeats the header so a receiver can reject an
 * oversize or inconsistent transfer at its first frame, before buffering anything.
 */
export const ChunkFrameSchema = z.strictObject({
  id: z.string().min(1).max(64),
  index: z.number().int().min(0),
  count: z.number().int().min(1),
  totalBytes: z.number().int().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  data: z.instanceof(Uint8Array),
});
export type ChunkFrame = z.infer<typeof ChunkFrameSchema>;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function splitIntoFrames(bytes: Uint8Array, chunkBytes: number): ChunkFrame[] {
  const count = Math.max(1, Math.ceil(bytes.byteLength / chunkBytes));
  const id = randomUUID();
  const sha256 = sha256Hex(bytes);
  const frames: ChunkFrame[] = [];
  for (let i = 0; i < count; i++) {
    frames.push({
      id, index: i, count, totalBytes: bytes.byteLength, sha256,
      data: bytes.subarray(i * chunkBytes, Math.min(bytes.byteLength, (i + 1) * chunkBytes)) as Uint8Array<ArrayBuffer>,
    });
  }
  return frames;
}

/** One transfer being received: written into its final buffer and hashed frame by frame, so completing a
 * 40 MB message costs no copy and no 40 MB hash in one go (the event loop stays responsive). */
interface Pending { frame0: ChunkFrame; out: Uint8Array; hash: Hash | undefined; received: number; bytes: number }

/** A reassembled transfer whose SHA-256 the caller checks (e.g. on a worker thread) before using it. */
export interface UnverifiedTransfer { id: string; bytes: Uint8Array; sha256: string }

/** Reassembles frames of one peer. Throws PAYLOAD_TOO_LARGE / PROTOCOL / INTEGRITY; stays usable after. */
export class FrameAssembler {
  private readonly pending = new Map<string, Pending>();
  /** Bytes reserved by the transfers in flight (each reserves its declared size at its first frame). */
  private reserved = 0;
  /**
   * `maxBytesInFlight` bounds what a peer can make us allocate by opening transfers it never finishes;
   * by default one maximum-size message at a time.
   */
  constructor(
    private readonly maxMessageBytes: number,
    private readonly maxConcurrent = 4,
    private readonly maxBytesInFlight = maxMessageBytes,
  ) {}

  /** Bytes currently reserved for unfinished transfers. */
  get bytesInFlight(): number { return this.reserved; }

  private drop(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.reserved -= p.out.byteLength;
  }

  /** Returns the complete message bytes, SHA-256 checked, when the last frame arrives, otherwise undefined. */
  accept(raw: unknown): Uint8Array | undefined {
    return this.take(raw, true)?.bytes;
  }

  /**
   * As accept, without hashing here: the caller gets the declared SHA-256 with the bytes and must check it
   * before trusting them (the coordinator hashes on its aggregation worker, off the event loop).
   */
  acceptUnverified(raw: unknown): UnverifiedTransfer | undefined {
    return this.take(raw, false);
  }

  private take(raw: unknown, hashHere: boolean): UnverifiedTransfer | undefined {
    const parsed = ChunkFrameSchema.safeParse(raw);
    if (!parsed.success) throw new FedProfileError('PROTOCOL', `malformed chunk frame: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const f = parsed.data;
    if (f.totalBytes > this.maxMessageBytes) {
      this.drop(f.id);
      throw new FedProfileError('PAYLOAD_TOO_LARGE',
        `message of ${f.totalBytes} bytes exceeds the limit of ${this.maxMessageBytes} bytes`,
        { totalBytes: f.totalBytes, limit: this.maxMessageBytes });
    }
    let p = this.pending.get(f.id);
    if (!p) {
      if (f.index !== 0) throw new FedProfileError('PROTOCOL', `chunk ${f.index} of an unknown transfer ${f.id}`);
      if (this.pending.size >= this.maxConcurrent) {
        throw new FedProfileError('PROTOCOL', `more than ${this.maxConcurrent} chunked transfers in flight`);
      }
      if (this.reserved + f.totalBytes > this.maxBytesInFlight) {
        throw new FedProfileError('PAYLOAD_TOO_LARGE',
          `transfer of ${f.totalBytes} bytes would put ${this.reserved + f.totalBytes} bytes in flight, over the limit of ${this.maxBytesInFlight}; finish the others first`,
          { totalBytes: f.totalBytes, inFlight: this.reserved, limit: this.maxBytesInFlight });
      }
      if (f.count > Math.ceil(f.totalBytes / Math.max(1, f.data.byteLength)) + 1 && f.count > 1) {
        throw new FedProfileError('PROTOCOL', `transfer ${f.id} declares ${f.count} frames for ${f.totalBytes} bytes`);
      }
      p = { frame0: f, out: new Uint8Array(f.totalBytes), hash: hashHere ? createHash('sha256') : undefined, received: 0, bytes: 0 };
      this.pending.set(f.id, p);
      this.reserved += f.totalBytes;
    }
    const h = p.frame0;
    if (f.index !== p.received || f.count !== h.count || f.totalBytes !== h.totalBytes || f.sha256 !== h.sha256) {
      this.drop(f.id);
      throw new FedProfileError('PROTOCOL', `chunk ${f.index} of transfer ${f.id} is out of order or inconsistent`);
    }
    if (p.bytes + f.data.byteLength > h.totalBytes) {
      this.drop(f.id);
      throw new FedProfileError('PAYLOAD_TOO_LARGE', `transfer ${f.id} sent more bytes than it declared`);
    }
    p.out.set(f.data, p.bytes);
    p.hash?.update(f.data);
    p.bytes += f.data.byteLength;
    p.received++;
    if (p.received < h.count) return undefined;
    this.drop(f.id);
    if (p.bytes !== h.totalBytes) throw new FedProfileError('PROTOCOL', `transfer ${f.id} is ${p.bytes} bytes, declared ${h.totalBytes}`);
    if (p.hash && p.hash.digest('hex') !== h.sha256) throw new FedProfileError('INTEGRITY', `transfer ${f.id} failed its SHA-256 check`);
    // This buffer backs this one message only: its consumer may hand it to a worker without a copy.
    markMessageBuffer(p.out.buffer as ArrayBuffer);
    return { id: f.id, bytes: p.out, sha256: h.sha256 };
  }

  clear(): void { this.pending.clear(); this.reserved = 0; }
}
