import { ConfigError, FedProfileError } from '../errors.js';
import type { WeightManifest } from '../weights/manifest.js';

/**
 * Parameter-efficient federated fine-tuning: clients train, and the federation ships, only a small named
 * subset of the weights while the pre-trained encoder stays frozen.
 *
 * 'bitfit' (Ben Zaken, Ravfogel & Goldberg 2022, "BitFit: Simple Parameter-efficient Fine-tuning for
 * Transformer-based Masked Language-models"): every bias and LayerNorm gain/offset of the encoder, plus the
 * task heads. 'heads': the heads only (linear probing).
 *
 * Embeddings are frozen in both. Federating the rows of the items a client touched ("sparse rows") would be
 * cheaper than the full table but tells whoever sees the update which items the client's users interacted
 * with; it is not offered (under SecAgg the row set itself would have to be masked too).
 */
export const PEFT_METHODS = ['bitfit', 'heads', 'lora', 'lora-bitfit'] as const;
export type PeftMethod = (typeof PEFT_METHODS)[number];

/**
 * 'lora' (Hu et al. 2022, "LoRA: Low-Rank Adaptation of Large Language Models"): the LoRA factors of every
 * attention and FFN kernel (the model config's loraRank) and the heads; 'lora-bitfit' adds BitFit's biases
 * and LayerNorm parameters. The kernels themselves and the embeddings stay frozen.
 */
export function isPeftTrainable(name: string, method: PeftMethod): boolean {
  if (name.startsWith('head/')) return true;
  const isLora = name.endsWith('/lora_a') || name.endsWith('/lora_b');
  if (method === 'lora') return isLora;
  if (method === 'lora-bitfit' && isLora) return true;
  if (method === 'heads' || (name.startsWith('embed/') && !name.startsWith('embed/ln/'))) return false;
  return name.endsWith('/bias') || name.endsWith('/gamma') || name.endsWith('/beta');
}

/** Where the federated subset sits in the flat weight vector, and how to cut it out and put it back. */
export class PeftSlice {
  readonly names: readonly string[];
  readonly size: number;
  private readonly ranges: ReadonlyArray<readonly [number, number]>;

  constructor(readonly manifest: WeightManifest, readonly method: PeftMethod) {
    const names: string[] = [];
    const ranges: Array<[number, number]> = [];
    let at = 0;
    let size = 0;
    for (const spec of manifest.specs) {
      const n = spec.shape.reduce((a, b) => a * b, 1);
      if (isPeftTrainable(spec.name, method)) {
        names.push(spec.name);
        const last = ranges.at(-1);
        if (last && last[1] === at) last[1] = at + n;
        else ranges.push([at, at + n]);
        size += n;
      }
      at += n;
    }
    if (at !== manifest.totalSize) throw new FedProfileError('INTEGRITY', `manifest shapes add up to ${at}, totalSize says ${manifest.totalSize}`);
    if (size === 0) throw new ConfigError(`peft.method: "${method}" selects no weights of this model`, { field: 'peft.method' });
    this.names = names;
    this.size = size;
    this.ranges = ranges;
  }

  /** The federated values of a full vector (weights or delta), in manifest order. */
  extract(full: Float32Array): Float32Array {
    this.checkFull(full);
    const out = new Float32Array(this.size);
    let o = 0;
    for (const [a, b] of this.ranges) {
      out.set(full.subarray(a, b), o);
      o += b - a;
    }
    return out;
  }

  /** A full-length vector holding `sub` at the federated positions and `fill` (default 0) elsewhere. */
  scatter(sub: Float32Array, fill?: Float32Array): Float32Array {
    if (sub.length !== this.size) throw new FedProfileError('BAD_INPUT', `PEFT vector has ${sub.length} values, expected ${this.size}`);
    const out = fill ? fill.slice() : new Float32Array(this.manifest.totalSize);
    this.checkFull(out);
    let o = 0;
    for (const [a, b] of this.ranges) {
      out.set(sub.subarray(o, o + (b - a)), a);
      o += b - a;
    }
    return out;
  }

  private checkFull(v: Float32Array): void {
    if (v.length !== this.manifest.totalSize) throw new FedProfileError('BAD_INPUT', `weight vector has ${v.length} values, the manifest ${this.manifest.totalSize}`);
  }
}
