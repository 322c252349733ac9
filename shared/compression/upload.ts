import { z } from 'zod';
import { PLAIN_UPDATE } from '../aggregation/plain-session.js';
import type { AggregationOutcome, ClientAggregationSession, Outbound, ServerAggregationSession } from '../aggregation/seam.js';
import { FedProfileError } from '../errors.js';
import { decodeUpload, UpdateCompressor, type UploadCodec } from './error-feedback.js';
import { takeAggregationParam } from '../protocol/aggregation-params.js';
import { ExactPart } from './exact-part.js';

/**
 * Plain-mode upload compression, end to end: the client encodes its update (f16, q8 or top-k, with error
 * feedback carrying what was dropped into its next update) and sends `{ encoded, weight }` in the ordinary
 * plain/update message; the coordinator decodes it before any other check or rule sees it. SecAgg uploads
 * its own fixed-point encoding, so this is plain mode only.
 */
export const UploadCompressionSchema = z.strictObject({
  codec: z.enum(['f16', 'q8', 'topk']),
  /** topk: fraction of each update's values sent (k = ⌈fraction·n⌉). */
  topkFraction: z.number().gt(0).max(1).default(0.01),
  /** Carry what compression dropped into the next round (default on for q8 and topk). */
  errorFeedback: z.boolean().optional(),
});
export type UploadCompression = z.output<typeof UploadCompressionSchema>;

/**
 * What the fit instruction carries: the codec, and the [start, end) ranges of the update that go as float32
 * beside the encoded rest (the federated statistics, see ExactPart).
 */
export const UploadCompressionParamsSchema = UploadCompressionSchema.extend({
  exactRanges: z.array(z.tuple([z.number().int().min(0), z.number().int().min(1)])).max(100_000).optional(),
});
export type UploadCompressionParams = z.output<typeof UploadCompressionParamsSchema>;

/** Reads and removes `compression` from the fit instruction's aggregation params. */
export function takeUploadCompression(params: Record<string, unknown>): { compression: UploadCompressionParams | undefined; rest: Record<string, unknown> } {
  const { value, rest } = takeAggregationParam(params, 'compression', UploadCompressionParamsSchema);
  return { compression: value, rest };
}

/** The exact part the fit instruction names for an update of this length; null when none. */
export function exactPartOf(c: UploadCompressionParams, vectorLength: number): ExactPart | null {
  if (!c.exactRanges || c.exactRanges.length === 0) return null;
  try {
    return ExactPart.fromRanges(vectorLength, c.exactRanges);
  } catch (e) {
    throw new FedProfileError('BAD_INPUT', `aggregation.params.compression.exactRanges: ${(e as Error).message}`);
  }
}

/**
 * Error feedback needs one compressor per client that outlives the round; the round's session does not.
 * Compressors are kept per owner (a client's identity object, collected with it) and per federation,
 * codec and vector length, so a changed setting or model starts from an empty residual.
 */
const compressors = new WeakMap<object, Map<string, UpdateCompressor>>();

export function compressorFor(owner: object, federationId: string, c: UploadCompression, vectorLength: number): UpdateCompressor {
  let byKey = compressors.get(owner);
  if (!byKey) compressors.set(owner, (byKey = new Map()));
  const key = `${federationId}/${c.codec}/${c.topkFraction}/${String(c.errorFeedback)}/${vectorLength}`;
  let k = byKey.get(key);
  if (!k) {
    byKey.clear();
    byKey.set(key, (k = new UpdateCompressor({ codec: c.codec as UploadCodec, topkFraction: c.topkFraction, errorFeedback: c.errorFeedback })));
  }
  return k;
}

/** The client's plain session with its update sent encoded (and `exact`'s positions as float32 beside it). */
export function compressingSession(inner: ClientAggregationSession, compressor: UpdateCompressor, exact: ExactPart | null = null): ClientAggregationSession {
  return {
    submit: (update, weight) => inner.submit(update, weight).map((o) => {
      const p = o.payload as { update?: unknown; weight?: unknown } | null;
      if (o.type !== PLAIN_UPDATE || !p || !(p.update instanceof Float32Array)) return o;
      if (!exact) return { ...o, payload: { encoded: compressor.compress(p.update).bytes, weight: p.weight } };
      return { ...o, payload: { encoded: compressor.compress(exact.lossy(p.update)).bytes, exact: exact.exact(p.update), weight: p.weight } };
    }),
    handle: (type, payload) => inner.handle(type, payload),
    ...(inner.dispose ? { dispose: () => inner.dispose!() } : {}),
  };
}

/**
 * The coordinator side: decodes `{ encoded, weight }` plain updates into `{ update, weight }` for the inner
 * session (which then applies its own bounds), and reports the bytes that actually arrived
 * (uploadBytes, and uploadBytesPerUpdate) beside the float32 size the inner session counts.
 */
export class DecodingServerSession implements ServerAggregationSession {
  private encodedBytes = 0;
  private decoded = 0;

  constructor(private readonly inner: ServerAggregationSession, private readonly vectorLength: number, private readonly exact: ExactPart | null = null) {}

  get stage(): string { return this.inner.stage; }
  begin(participants: readonly string[]): Outbound[] { return this.inner.begin(participants); }

  handle(from: string, type: string, payload: unknown): Outbound[] {
    const p = payload as { encoded?: unknown; exact?: unknown; weight?: unknown } | null;
    if (type !== PLAIN_UPDATE || !p || typeof p !== 'object' || !(p.encoded instanceof Uint8Array)) return this.inner.handle(from, type, payload);
    let update: Float32Array;
    try {
      update = decodeUpload(p.encoded);
    } catch (e) {
      throw new FedProfileError('BAD_INPUT', `plain/update.encoded cannot be decoded: ${e instanceof Error ? e.message : String(e)}`);
    }
    let exactBytes = 0;
    if (this.exact && p.exact !== undefined) {
      if (!(p.exact instanceof Float32Array)) throw new FedProfileError('BAD_INPUT', 'plain/update.exact: expected float32 values');
      const lossyLength = this.vectorLength - this.exact.exactCount;
      if (update.length !== lossyLength) throw new FedProfileError('BAD_INPUT', `plain/update.encoded holds ${update.length} values, expected ${lossyLength} beside plain/update.exact`);
      update = this.exact.assemble(update, p.exact);
      exactBytes = p.exact.byteLength;
    } else if (update.length !== this.vectorLength) {
      // (A whole encoded update, from a client that predates the exact ranges, passes as it is.)
      throw new FedProfileError('BAD_INPUT', `plain/update.encoded holds ${update.length} values, expected ${this.vectorLength}${this.exact ? ' (or the lossy part beside plain/update.exact)' : ''}`);
    }
    const out = this.inner.handle(from, type, { update, weight: p.weight });
    this.encodedBytes += p.encoded.byteLength + exactBytes;
    this.decoded++;
    return out;
  }

  dropped(clientId: string): Outbound[] { return this.inner.dropped(clientId); }
  expire(): Outbound[] { return this.inner.expire(); }
  close(): void { this.inner.close?.(); }

  outcome(): AggregationOutcome {
    const o = this.inner.outcome();
    if (o.status !== 'done' || this.decoded === 0) return o;
    return { ...o, metrics: { ...o.metrics, uploadBytes: this.encodedBytes, uploadBytesPerUpdate: this.encodedBytes / this.decoded } };
  }
}
