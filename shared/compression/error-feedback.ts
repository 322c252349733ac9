import { FedProfileError } from '../errors.js';
import { decodeVector, encodeVector, type VectorCodec } from '../weights/codec.js';
import { decodeTopK, encodeTopK } from './topk.js';

export type UploadCodec = VectorCodec | 'topk';

export interface CompressorOptions {
  codec: UploadCodec;
  /** topk: fraction of values kept each round (k = ⌈fraction·n⌉). */
  topkFraction?: number;
  /**
   * Error feedback (Seide et al. 2014; Karimireddy et al. 2019): what compression dropped this round is
   * added to next round's update, so the error does not accumulate in the model. Default on for q8 and topk.
   */
  errorFeedback?: boolean;
}

export interface Compressed {
  bytes: Uint8Array;
  /** What the receiver decodes: the values the server aggregates. */
  decoded: Float32Array;
}

/** Decodes any upload encoding by its magic. */
export function decodeUpload(bytes: Uint8Array): Float32Array {
  return bytes[2] === 0x54 ? decodeTopK(bytes) : decodeVector(bytes);
}

/**
 * One client's upload compressor. It holds the residual between what it meant to send and what the
 * server will decode, so it must live as long as the client (one per client, across rounds).
 */
export class UpdateCompressor {
  private residual: Float32Array | null = null;
  readonly errorFeedback: boolean;

  constructor(private readonly opts: CompressorOptions) {
    if (opts.codec === 'topk' && !(opts.topkFraction !== undefined && opts.topkFraction > 0 && opts.topkFraction <= 1)) {
      throw new FedProfileError('BAD_CONFIG', `topkFraction must be in (0, 1], got ${opts.topkFraction}`);
    }
    this.errorFeedback = opts.errorFeedback ?? (opts.codec === 'q8' || opts.codec === 'topk');
  }

  /** ‖residual‖₂ carried into the next round (0 without error feedback). */
  residualNorm(): number {
    if (!this.residual) return 0;
    let s = 0;
    for (const x of this.residual) s += x * x;
    return Math.sqrt(s);
  }

  compress(update: Float32Array): Compressed {
    let target = update;
    if (this.errorFeedback && this.residual) {
      if (this.residual.length !== update.length) throw new FedProfileError('BAD_INPUT', `update has ${update.length} values, the residual ${this.residual.length}`);
      target = new Float32Array(update.length);
      for (let i = 0; i < update.length; i++) target[i] = update[i]! + this.residual[i]!;
    }
    const bytes = this.opts.codec === 'topk'
      ? encodeTopK(target, Math.ceil(this.opts.topkFraction! * target.length))
      : encodeVector(target, this.opts.codec);
    const decoded = decodeUpload(bytes);
    if (this.errorFeedback) {
      const r = new Float32Array(target.length);
      for (let i = 0; i < r.length; i++) r[i] = target[i]! - decoded[i]!;
      this.residual = r;
    }
    return { bytes, decoded };
  }
}
