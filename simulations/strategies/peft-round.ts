import { PeftSlice } from '../../shared/peft/bitfit.js';
import { encodeMessage } from '../../shared/protocol/codec.js';
import { encodeVector, type VectorCodec } from '../../shared/weights/codec.js';
import type { WeightManifest } from '../../shared/weights/manifest.js';
import type { SimulationConfig } from '../config.js';

/** Bytes of a vector in the 'global' message envelope, in the configured download encoding. */
export function downloadBytes(values: Float32Array, codec: VectorCodec): number {
  return encodeMessage({ type: 'global', payload: codec === 'f32' ? values : encodeVector(values, codec) }).byteLength;
}

/**
 * PEFT in the simulator: fine-tuning rounds train and ship only the slice (pre-training rounds train the whole
 * model, the "pre-trained encoder"). A client downloads the whole model when the frozen part changed since it
 * last had it (after pre-training), and only the slice otherwise.
 */
export class PeftRounds {
  readonly slice: PeftSlice | undefined;
  private frozenVersion = 0;
  private readonly cached = new Map<string, number>();

  constructor(cfg: SimulationConfig, manifest: WeightManifest) {
    this.slice = cfg.peft ? new PeftSlice(manifest, cfg.peft.method) : undefined;
  }

  active(phase: 'pretrain' | 'finetune'): boolean {
    return this.slice !== undefined && phase === 'finetune';
  }

  /** Download bytes for these clients this round. */
  downloads(ids: readonly string[], global: Float32Array, codec: VectorCodec, peftRound: boolean): number {
    const full = downloadBytes(global, codec);
    const part = peftRound ? downloadBytes(this.slice!.extract(global), codec) : full;
    let total = 0;
    for (const id of ids) {
      total += peftRound && this.cached.get(id) === this.frozenVersion ? part : full;
      this.cached.set(id, this.frozenVersion);
    }
    return total;
  }

  /** A round that trained the whole model changed the frozen part: everyone needs it again. */
  endRound(peftRound: boolean, released: boolean): void {
    if (!peftRound && released) this.frozenVersion++;
  }
}
