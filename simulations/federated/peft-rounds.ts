import { ExactPart } from '../../shared/compression/exact-part.js';
import { STATS_WEIGHTS } from '../../shared/model/next-item-statistics.js';
import { PeftSlice } from '../../shared/peft/bitfit.js';
import type { VectorCodec } from '../../shared/weights/codec.js';
import type { WeightManifest } from '../../shared/weights/manifest.js';
import type { SimulationConfig } from '../config.js';
import { downloadBytes } from './client-transforms.js';

/** [start, end) of a named weight in the flat vector, or null when the model has no such weight. */
function rangeOf(manifest: WeightManifest, name: string): readonly [number, number] | null {
  let at = 0;
  for (const spec of manifest.specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.name === name) return [at, at + n];
    at += n;
  }
  return null;
}

/**
 * PEFT in the simulator: fine-tuning rounds train and ship only the slice (pre-training rounds train the whole
 * model, the "pre-trained encoder"). The round engine aggregates the round's slice (VirtualFederation's
 * RoundVector); this class decides which slice a round ships and counts what clients download.
 *
 * The federated statistics (`stats/*`) are each client's own counts over its FedAvg weight: they stop changing
 * once they have been averaged under a fixed item index (the first round that carries them fixes the index;
 * the next one counts every client's transitions in that order). Until then fine-tuning rounds carry them too
 * (the "statistics slice"); from then on only the trainable slice and the small scorer validation vector travel.
 *
 * Downloads: a client fetches the whole model when the encoder changed since it last had it (after
 * pre-training), the trainable slice plus the statistics when only those are stale, and the round's slice
 * otherwise.
 */
export class PeftRounds {
  /** Trainable weights and the scorer validation: what a steady fine-tuning round ships. */
  readonly slice: PeftSlice | undefined;
  /** The same plus the statistics counts. */
  readonly statisticsSlice: PeftSlice | undefined;
  private readonly indexRange: readonly [number, number] | null;
  private statisticsSettled: boolean;
  private encoderVersion = 0;
  private statisticsVersion = 0;
  private readonly cached = new Map<string, { encoder: number; statistics: number }>();
  private readonly exact = new Map<PeftSlice | undefined, ExactPart | null>();

  constructor(cfg: SimulationConfig, private readonly manifest: WeightManifest) {
    this.slice = cfg.peft ? new PeftSlice(manifest, cfg.peft.method) : undefined;
    this.statisticsSlice = cfg.peft ? new PeftSlice(manifest, cfg.peft.method, { statistics: true }) : undefined;
    this.indexRange = rangeOf(manifest, STATS_WEIGHTS.indexPopularity);
    this.statisticsSettled = this.indexRange === null;
  }

  /** The slice a fine-tuning round ships (undefined: the round trains and ships the whole model). */
  roundSlice(phase: 'pretrain' | 'finetune'): PeftSlice | undefined {
    if (this.slice === undefined || phase !== 'finetune') return undefined;
    return this.statisticsSettled ? this.slice : this.statisticsSlice;
  }

  /** The statistics' positions in the whole model (no slice) or in a slice's vector; null when none. */
  exactPart(slice: PeftSlice | undefined): ExactPart | null {
    if (!this.exact.has(slice)) {
      const names = slice ? new Set(slice.names) : undefined;
      this.exact.set(slice, ExactPart.statistics(this.manifest.specs.filter((s) => !names || names.has(s.name))));
    }
    return this.exact.get(slice)!;
  }

  /** Download bytes for these clients this round. */
  downloads(ids: readonly string[], global: Float32Array, codec: VectorCodec, slice: PeftSlice | undefined): number {
    const sizes = new Map<string, number>();
    const bytesOf = (key: string, values: () => Float32Array, exact: ExactPart | null) => {
      let b = sizes.get(key);
      if (b === undefined) sizes.set(key, b = downloadBytes(values(), codec, exact));
      return b;
    };
    let total = 0;
    for (const id of ids) {
      const had = this.cached.get(id);
      if (slice === undefined || had?.encoder !== this.encoderVersion) total += bytesOf('full', () => global, this.exactPart(undefined));
      else if (!slice.statistics && had.statistics !== this.statisticsVersion) {
        total += bytesOf('statistics', () => this.statisticsSlice!.extract(global), this.exactPart(this.statisticsSlice));
      } else total += bytesOf('slice', () => slice.extract(global), this.exactPart(slice));
      this.cached.set(id, { encoder: this.encoderVersion, statistics: this.statisticsVersion });
    }
    return total;
  }

  /**
   * After a round: a released whole-model round changed the encoder (everyone needs it again); a released
   * round that carried the statistics changed them, and settled them when the index was already fixed at its
   * start (`globalAtStart`).
   */
  endRound(slice: PeftSlice | undefined, released: boolean, globalAtStart: Float32Array): void {
    if (!released) return;
    if (slice === undefined) this.encoderVersion++;
    if (slice === undefined || slice.statistics) {
      this.statisticsVersion++;
      if (this.indexRange && globalAtStart.subarray(...this.indexRange).some((v) => v > 0)) this.statisticsSettled = true;
    }
  }
}
