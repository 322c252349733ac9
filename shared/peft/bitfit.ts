import { ConfigError, FedProfileError } from '../errors.js';
import { HEAD_GATE_WEIGHT } from '../model/head-gate.js';
import { isStatisticWeight, STATS_WEIGHTS } from '../model/next-item-statistics.js';
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
export const PEFT_METHODS = ['bitfit', 'heads', 'lora', 'lora-bitfit', 'adapter', 'adapter-bitfit'] as const;
export type PeftMethod = (typeof PEFT_METHODS)[number];

const isAdapterWeight = (name: string): boolean => name.includes('/adapter/');

/**
 * 'lora' (Hu et al. 2022, "LoRA: Low-Rank Adaptation of Large Language Models"): the LoRA factors of every
 * attention and FFN kernel (the model config's loraRank) and the heads; 'lora-bitfit' adds BitFit's biases
 * and LayerNorm parameters. 'adapter' (Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for
 * NLP"): the bottleneck adapters after every attention and FFN sublayer (the model config's adapterSize) and
 * the heads; 'adapter-bitfit' adds BitFit's. The kernels themselves and the embeddings stay frozen.
 */
export function isPeftTrainable(name: string, method: PeftMethod): boolean {
  if (isStatisticWeight(name)) return false;
  if (name.startsWith('head/')) return true;
  const isLora = name.endsWith('/lora_a') || name.endsWith('/lora_b');
  const isAdapter = isAdapterWeight(name);
  if (method === 'lora' || method === 'lora-bitfit') {
    if (isLora) return true;
    if (method === 'lora') return false;
  }
  if (method === 'adapter' || method === 'adapter-bitfit') {
    if (isAdapter) return true;
    if (method === 'adapter') return false;
  }
  if (isLora || isAdapter) return false;
  if (method === 'heads' || (name.startsWith('embed/') && !name.startsWith('embed/ln/'))) return false;
  return name.endsWith('/bias') || name.endsWith('/gamma') || name.endsWith('/beta');
}

/**
 * Validation sums every client re-measures every round with the model being fine-tuned: the next-item scorer's
 * (which mix of model and statistics) and the head gate's (which blend of rule and trained head).
 */
const MODEL_VALIDATION_WEIGHTS: ReadonlySet<string> = new Set([STATS_WEIGHTS.scorerValidation, HEAD_GATE_WEIGHT]);

/**
 * Whether a weight travels in a PEFT round: the trainable slice, plus the federated statistics
 * (next-item-statistics.ts, head-gate.ts), which no gradient trains. The validation sums depend on the model
 * being fine-tuned, so they always travel; the counts (popularity, index, transition tables: most of a small
 * model) only when `statistics`.
 */
export function isPeftFederated(name: string, method: PeftMethod, statistics: boolean): boolean {
  if (MODEL_VALIDATION_WEIGHTS.has(name)) return true;
  if (isStatisticWeight(name)) return statistics;
  return isPeftTrainable(name, method);
}

export interface PeftSliceOptions {
  /** Also carry the statistics counts (stats/*), e.g. in fine-tuning rounds while they still change. */
  statistics?: boolean;
}

/**
 * Where the federated subset sits in the flat weight vector, and how to cut it out and put it back. `names`
 * may include statistics weights: training skips them (step-inputs.ts), the client's statistics refresh
 * writes them.
 */
export class PeftSlice {
  readonly names: readonly string[];
  readonly size: number;
  private readonly ranges: ReadonlyArray<readonly [number, number]>;

  readonly statistics: boolean;

  constructor(readonly manifest: WeightManifest, readonly method: PeftMethod, options: PeftSliceOptions = {}) {
    this.statistics = options.statistics ?? false;
    const names: string[] = [];
    const ranges: Array<[number, number]> = [];
    let at = 0;
    let size = 0;
    for (const spec of manifest.specs) {
      const n = spec.shape.reduce((a, b) => a * b, 1);
      if (isPeftFederated(spec.name, method, this.statistics)) {
        names.push(spec.name);
        const last = ranges.at(-1);
        if (last && last[1] === at) last[1] = at + n;
        else ranges.push([at, at + n]);
        size += n;
      }
      at += n;
    }
    if (at !== manifest.totalSize) throw new FedProfileError('INTEGRITY', `manifest shapes add up to ${at}, totalSize says ${manifest.totalSize}`);
    const needs = method.startsWith('lora') ? { test: (n: string) => n.endsWith('/lora_a'), field: 'loraRank' }
      : method.startsWith('adapter') ? { test: isAdapterWeight, field: 'adapterSize' } : undefined;
    if (needs && !names.some(needs.test)) {
      throw new ConfigError(`peft.method: "${method}" needs the model's ${needs.field} >= 1; this model has none of those weights`, { field: 'peft.method' });
    }
    if (!names.some((n) => isPeftTrainable(n, method))) throw new ConfigError(`peft.method: "${method}" selects no weights of this model`, { field: 'peft.method' });
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
