import * as tf from '@tensorflow/tfjs';
import { ConfigError, FedProfileError } from '../errors.js';
import { ACTIONS } from '../data/events.js';
import type { ModelBatch } from './batch.js';
import { ModelConfigSchema, type ModelConfig } from './config.js';
import { isStatisticWeight, SCORERS, STATS_WEIGHTS } from './next-item-statistics.js';
import { gelu, layerNorm, plainGelu, plainLayerNorm, plainTiedSoftmaxCrossEntropy, tiedSoftmaxCrossEntropy, sampledTiedSoftmaxCrossEntropy, type SampledNegatives } from './ops.js';
import { WIDE_FEATURE_SCALE, userFeatureLayout, wideInit } from './user-features.js';
import { chooseHeadGate, HEAD_GATE_SIZE, HEAD_GATE_WEIGHT, TRAINED_HEADS, type HeadGate } from './head-gate.js';

export interface NamedWeight { name: string; variable: tf.Variable }

export interface FinetuneTargets {
  /** float 0/1 [B] */
  purchased: tf.Tensor1D;
  /** multi-hot [B, categoryVocab] */
  interests: tf.Tensor2D;
  /** int32 [B] */
  tier: tf.Tensor1D;
}

export interface ProfileModelOptions {
  /**
   * Use the fused kernels with hand-written gradients and the masked-rows-only last block (default).
   * false = the textbook implementation with plain autodiff: same math, slower; kept for equivalence tests
   * and the stock benchmark.
   */
  fusedOps?: boolean;
}

/** Which embedding fields a config turns on. One category carries no information, so it is off too. */
export function enabledFields(cfg: ModelConfig): { category: boolean; action: boolean; price: boolean; gap: boolean; text: boolean } {
  return {
    category: cfg.categoryVocab > 2,
    action: cfg.useActions,
    price: cfg.priceBuckets > 0,
    gap: cfg.gapBuckets > 0,
    text: cfg.textVocab > 0 && cfg.textTokens > 0,
  };
}

/** A named random/constant initialiser, or exact starting values (the wide heads start at their rules). */
type Init = 'embedding' | 'kernel' | 'zeros' | 'ones' | 'lora' | Float32Array;
interface Spec { name: string; shape: number[]; init: Init }

/** The fixed weight order and names of a config (the flat-vector layout every client shares). */
export function weightSpecs(cfg: ModelConfig): Spec[] {
  const d = cfg.dModel;
  const f = enabledFields(cfg);
  const s: Spec[] = [{ name: 'embed/item', shape: [cfg.itemVocab, d], init: 'embedding' }];
  if (f.category) s.push({ name: 'embed/category', shape: [cfg.categoryVocab, d], init: 'embedding' });
  if (f.action) s.push({ name: 'embed/action', shape: [ACTIONS.length + 1, d], init: 'embedding' });
  if (f.price) s.push({ name: 'embed/price', shape: [cfg.priceBuckets, d], init: 'embedding' });
  if (f.gap) s.push({ name: 'embed/gap', shape: [cfg.gapBuckets, d], init: 'embedding' });
  if (f.text) s.push({ name: 'embed/text', shape: [cfg.textVocab, d], init: 'embedding' });
  s.push({ name: 'embed/position', shape: [cfg.maxLen, d], init: 'embedding' });
  s.push({ name: 'embed/ln/gamma', shape: [d], init: 'ones' }, { name: 'embed/ln/beta', shape: [d], init: 'zeros' });
  for (let i = 0; i < cfg.layers; i++) {
    const p = `block${i}`;
    s.push(
      { name: `${p}/attn/qkv/kernel`, shape: [d, 3 * d], init: 'kernel' },
      { name: `${p}/attn/qkv/bias`, shape: [3 * d], init: 'zeros' },
      { name: `${p}/attn/out/kernel`, shape: [d, d], init: 'kernel' },
      { name: `${p}/attn/out/bias`, shape: [d], init: 'zeros' },
      { name: `${p}/ln1/gamma`, shape: [d], init: 'ones' },
      { name: `${p}/ln1/beta`, shape: [d], init: 'zeros' },
      { name: `${p}/ffn/in/kernel`, shape: [d, cfg.ffDim], init: 'kernel' },
      { name: `${p}/ffn/in/bias`, shape: [cfg.ffDim], init: 'zeros' },
      { name: `${p}/ffn/out/kernel`, shape: [cfg.ffDim, d], init: 'kernel' },
      { name: `${p}/ffn/out/bias`, shape: [d], init: 'zeros' },
      { name: `${p}/ln2/gamma`, shape: [d], init: 'ones' },
      { name: `${p}/ln2/beta`, shape: [d], init: 'zeros' },
    );
  }
  s.push(
    { name: 'head/item/bias', shape: [cfg.itemVocab], init: 'zeros' },
    // The fused heads' deep kernels start at zero, so every head starts exactly at its rule (the wide part
    // below) whatever the pre-trained encoder says; the encoder is not trained through them (see finetuneLoss).
    { name: 'head/propensity/kernel', shape: [d, 1], init: 'zeros' },
    { name: 'head/propensity/bias', shape: [1], init: 'zeros' },
    { name: 'head/interests/kernel', shape: [d, cfg.categoryVocab], init: 'zeros' },
    { name: 'head/interests/bias', shape: [cfg.categoryVocab], init: 'zeros' },
    { name: 'head/tier/kernel', shape: [d, cfg.numTiers], init: 'zeros' },
    { name: 'head/tier/bias', shape: [cfg.numTiers], init: 'zeros' },
  );
  // The wide halves of the heads (see user-features.ts): one weight per per-category feature map, shared by
  // every category, and a linear layer on the global features for propensity and tier.
  const layout = userFeatureLayout(cfg);
  const wide = wideInit(cfg);
  s.push(
    { name: 'head/interests/wide', shape: [layout.categoryBlocks], init: wide.interests },
    { name: 'head/propensity/wide', shape: [layout.global, 1], init: wide.propensity },
    { name: 'head/tier/wide', shape: [layout.global, cfg.numTiers], init: wide.tier },
    // Deep-only auxiliary heads (propensity, interests, tier in one layer), used by the fine-tuning loss only.
    { name: 'head/aux/kernel', shape: [d, 1 + cfg.categoryVocab + cfg.numTiers], init: 'kernel' },
    { name: 'head/aux/bias', shape: [1 + cfg.categoryVocab + cfg.numTiers], init: 'zeros' },
  );
  const n = cfg.transitionItems ?? 0;
  if (n > 0) {
    // Counts, not trained by gradient: each client writes its own (see next-item-statistics.ts).
    s.push(
      { name: STATS_WEIGHTS.popularity, shape: [cfg.itemVocab], init: 'zeros' },
      { name: STATS_WEIGHTS.indexPopularity, shape: [cfg.itemVocab], init: 'zeros' },
      { name: STATS_WEIGHTS.transitions, shape: [n, n], init: 'zeros' },
      { name: STATS_WEIGHTS.transitionsWindow, shape: [n, n], init: 'zeros' },
      { name: STATS_WEIGHTS.categoryTransitions, shape: [cfg.categoryVocab, cfg.itemVocab], init: 'zeros' },
      { name: STATS_WEIGHTS.scorerValidation, shape: [2, SCORERS.length], init: 'zeros' },
      // Validation sums that choose how each head blends its rule with its trained self (head-gate.ts).
      { name: HEAD_GATE_WEIGHT, shape: [HEAD_GATE_SIZE], init: 'zeros' },
    );
  }
  // Appended after everything else, so a model without LoRA or adapters keeps its layout and initial values
  // (and a LoRA model keeps its own when adapters are added).
  s.push(...loraSpecs(cfg), ...adapterSpecs(cfg));
  return s;
}

/** The sublayers a bottleneck adapter follows in every block. */
export const ADAPTER_SITES = ['attn', 'ffn'] as const;

function adapterSpecs(cfg: ModelConfig): Spec[] {
  const r = cfg.adapterSize ?? 0;
  if (r === 0) return [];
  const d = cfg.dModel;
  const out: Spec[] = [];
  for (let i = 0; i < cfg.layers; i++) {
    for (const site of ADAPTER_SITES) {
      const p = `block${i}/adapter/${site}`;
      // Down at fan-in scale (like LoRA's A) so the up projection gets a usable gradient from the start; up at
      // zero so the adapter adds exactly nothing until trained.
      out.push(
        { name: `${p}/down/kernel`, shape: [d, r], init: 'lora' }, { name: `${p}/down/bias`, shape: [r], init: 'zeros' },
        { name: `${p}/up/kernel`, shape: [r, d], init: 'zeros' }, { name: `${p}/up/bias`, shape: [d], init: 'zeros' },
      );
    }
  }
  return out;
}

/** The kernels LoRA adapts in every block, with their [in, out] shapes. */
export function loraKernels(cfg: ModelConfig): Array<{ kernel: string; shape: [number, number] }> {
  const d = cfg.dModel;
  return [
    { kernel: 'attn/qkv', shape: [d, 3 * d] }, { kernel: 'attn/out', shape: [d, d] },
    { kernel: 'ffn/in', shape: [d, cfg.ffDim] }, { kernel: 'ffn/out', shape: [cfg.ffDim, d] },
  ];
}

function loraSpecs(cfg: ModelConfig): Spec[] {
  const r = cfg.loraRank ?? 0;
  if (r === 0) return [];
  const out: Spec[] = [];
  for (let i = 0; i < cfg.layers; i++) {
    for (const { kernel, shape: [fanIn, fanOut] } of loraKernels(cfg)) {
      out.push({ name: `block${i}/${kernel}/lora_a`, shape: [fanIn, r], init: 'lora' }, { name: `block${i}/${kernel}/lora_b`, shape: [r, fanOut], init: 'zeros' });
    }
  }
  return out;
}

function initTensor(spec: Spec, seed: number): tf.Tensor {
  if (spec.init instanceof Float32Array) return tf.tensor(spec.init, spec.shape, 'float32');
  switch (spec.init) {
    case 'embedding': return tf.randomNormal(spec.shape, 0, 0.02, 'float32', seed);
    case 'kernel': return tf.truncatedNormal(spec.shape, 0, 0.02, 'float32', seed);
    case 'zeros': return tf.zeros(spec.shape);
    case 'ones': return tf.ones(spec.shape);
    // LoRA's A (Hu et al. 2021): random with fan-in scale, so B's gradient is not vanishingly small.
    case 'lora': return tf.randomNormal(spec.shape, 0, 1 / Math.sqrt(spec.shape[0]!), 'float32', seed);
  }
}

/** Strength of the pull of the fused heads toward their rules (see ProfileModel.ruleAnchor). */
export const HEAD_ANCHOR = 1;

/** Identity whose gradient is zero: the fused heads read the user embedding without training the encoder. */
const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor2D) => tf.Tensor2D;

/** Distinct, reproducible seed per weight / dropout site (randomNormal seeds are plain numbers). */
function subSeed(seed: number, k: number): number {
  return ((Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(k + 1, 0x85ebca6b)) >>> 0) % 2147483647;
}

interface Block {
  qkvK: tf.Variable; qkvB: tf.Variable; outK: tf.Variable; outB: tf.Variable; ln1G: tf.Variable; ln1B: tf.Variable;
  ffInK: tf.Variable; ffInB: tf.Variable; ffOutK: tf.Variable; ffOutB: tf.Variable; ln2G: tf.Variable; ln2B: tf.Variable;
  /** LoRA factors [A, B] per adapted kernel, when the config has a LoRA rank. */
  lora?: Record<'qkv' | 'out' | 'ffIn' | 'ffOut', [tf.Variable, tf.Variable]>;
  /** Bottleneck adapters after the attention and the FFN sublayer, when the config has an adapter size. */
  adapters?: Record<(typeof ADAPTER_SITES)[number], Adapter>;
}

interface Adapter { downK: tf.Variable; downB: tf.Variable; upK: tf.Variable; upB: tf.Variable }

/** The kernel a block uses: W, or W + A·B with LoRA (computed per forward pass, so A and B get gradients). */
function adapted(k: tf.Variable, lora: [tf.Variable, tf.Variable] | undefined): tf.Tensor2D {
  return lora ? tf.add(k, tf.matMul(lora[0], lora[1])) : k as tf.Tensor2D;
}

/** hidden is [N,d] over all B*L positions, or over `rows` only when those were given. */
interface ForwardOut { hidden: tf.Tensor2D; lastAttention?: tf.Tensor4D }

/**
 * The one profile model: a BERT4Rec-style post-LN Transformer over multi-field event tokens, with a tied
 * item output projection and profile heads. All methods are pure tensor functions of (weights, inputs):
 * call them inside tf.tidy / optimizer.minimize.
 */
export class ProfileModel {
  readonly config: ModelConfig;
  readonly weights: readonly NamedWeight[];
  private readonly byName: Map<string, tf.Variable>;
  private readonly fused: boolean;
  private readonly fields: ReturnType<typeof enabledFields>;
  private readonly blocks: Block[];

  private constructor(cfg: ModelConfig, weights: NamedWeight[], opts: ProfileModelOptions) {
    this.config = cfg;
    this.weights = weights;
    this.byName = new Map(weights.map((w) => [w.name, w.variable]));
    this.fused = opts.fusedOps ?? true;
    this.fields = enabledFields(cfg);
    this.blocks = [...Array(cfg.layers).keys()].map((i) => {
      const w = (n: string) => this.w(`block${i}/${n}`);
      return {
        qkvK: w('attn/qkv/kernel'), qkvB: w('attn/qkv/bias'), outK: w('attn/out/kernel'), outB: w('attn/out/bias'),
        ln1G: w('ln1/gamma'), ln1B: w('ln1/beta'), ffInK: w('ffn/in/kernel'), ffInB: w('ffn/in/bias'),
        ffOutK: w('ffn/out/kernel'), ffOutB: w('ffn/out/bias'), ln2G: w('ln2/gamma'), ln2B: w('ln2/beta'),
        ...((cfg.loraRank ?? 0) > 0 ? {
          lora: {
            qkv: [w('attn/qkv/lora_a'), w('attn/qkv/lora_b')], out: [w('attn/out/lora_a'), w('attn/out/lora_b')],
            ffIn: [w('ffn/in/lora_a'), w('ffn/in/lora_b')], ffOut: [w('ffn/out/lora_a'), w('ffn/out/lora_b')],
          } satisfies Block['lora'],
        } : {}),
        ...((cfg.adapterSize ?? 0) > 0 ? {
          adapters: Object.fromEntries(ADAPTER_SITES.map((site) => [site, {
            downK: w(`adapter/${site}/down/kernel`), downB: w(`adapter/${site}/down/bias`),
            upK: w(`adapter/${site}/up/kernel`), upB: w(`adapter/${site}/up/bias`),
          }])) as Record<(typeof ADAPTER_SITES)[number], Adapter>,
        } : {}),
      };
    });
  }

  /** Deterministic initialisation: the same config and seed give the same weights, bit for bit. */
  static create(cfg: ModelConfig, seed: number, opts: ProfileModelOptions = {}): ProfileModel {
    const parsed = ModelConfigSchema.safeParse(cfg);
    if (!parsed.success) {
      throw new ConfigError(`Invalid model config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    if (!Number.isInteger(seed)) throw new ConfigError(`Model seed must be an integer, got ${seed}.`);
    const weights = weightSpecs(cfg).map((spec, k) => {
      const init = initTensor(spec, subSeed(seed, k));
      const variable = tf.variable(init, true);
      init.dispose();
      return { name: spec.name, variable };
    });
    return new ProfileModel(cfg, weights, opts);
  }

  /** The weight called `name`, if this config has it (e.g. the optional statistics). */
  maybeWeight(name: string): tf.Variable | undefined {
    return this.byName.get(name);
  }

  private w(name: string): tf.Variable {
    const v = this.byName.get(name);
    if (v === undefined) throw new FedProfileError('INTERNAL', `Model has no weight "${name}".`);
    return v;
  }

  getWeightTensors(): tf.Tensor[] {
    return this.weights.map((w) => w.variable.clone());
  }

  setWeights(values: readonly tf.Tensor[]): void {
    if (values.length !== this.weights.length) {
      throw new FedProfileError('BAD_INPUT', `setWeights: got ${values.length} tensors, the model has ${this.weights.length} weights.`);
    }
    values.forEach((v, i) => {
      const w = this.weights[i]!;
      if (!tf.util.arraysEqual(v.shape, w.variable.shape)) {
        throw new FedProfileError('BAD_INPUT', `setWeights: "${w.name}" expects shape [${w.variable.shape}], got [${v.shape}].`);
      }
    });
    values.forEach((v, i) => this.weights[i]!.variable.assign(v.dtype === 'float32' ? v : tf.cast(v, 'float32')));
  }

  private ln(x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
    return this.fused ? layerNorm(x, g, b) : plainLayerNorm(x, g, b);
  }

  private dropout<T extends tf.Tensor>(x: T, training: boolean, seed: number | undefined, site: number): T {
    const rate = this.config.dropout;
    if (!training || rate <= 0) return x;
    return tf.dropout(x, rate, undefined, subSeed(seed ?? 0, 1000 + site)) as T;
  }

  /** Sum of the enabled field embeddings + positions, LayerNorm: [B*L, d]. */
  private embed(batch: ModelBatch): tf.Tensor2D {
    const cfg = this.config;
    const [B, L] = batch.item.shape;
    const d = cfg.dModel;
    const N = B * L;
    const flat = (t: tf.Tensor2D) => tf.reshape(t, [N]) as tf.Tensor1D;
    let x = tf.gather(this.w('embed/item'), flat(batch.item)) as tf.Tensor2D;
    const add = (name: string, ids: tf.Tensor2D) => { x = tf.add(x, tf.gather(this.w(name), flat(ids))); };
    if (this.fields.category) add('embed/category', batch.category);
    if (this.fields.action) add('embed/action', batch.action);
    if (this.fields.price) add('embed/price', batch.price);
    if (this.fields.gap) add('embed/gap', batch.gap);
    if (this.fields.text) {
      const T = cfg.textTokens;
      const ids = tf.reshape(batch.text, [N * T]) as tf.Tensor1D;
      const pieces = tf.reshape(tf.gather(this.w('embed/text'), ids), [N, T, d]);
      const present = tf.reshape(tf.cast(tf.greater(ids, 0), 'float32'), [N, T, 1]);
      const count = tf.maximum(tf.sum(present, 1), 1);
      x = tf.add(x, tf.div(tf.sum(tf.mul(pieces, present), 1), count));
    }
    const pos = this.w('embed/position');
    const withPos = tf.reshape(tf.add(tf.reshape(x, [B, L, d]), pos), [N, d]) as tf.Tensor2D;
    return this.ln(withPos, this.w('embed/ln/gamma'), this.w('embed/ln/beta'));
  }

  /**
   * The encoder. With `rows` (flat b*L+l indices), the last block keeps full attention over every position but
   * runs its output projection, FFN and LayerNorms only on those rows: the Cloze loss needs nothing else, and
   * this skips most of the last block's work without changing any result.
   */
  private forward(batch: ModelBatch, training: boolean, dropoutSeed: number | undefined, keepAttention: boolean, rows?: tf.Tensor1D): ForwardOut {
    const cfg = this.config;
    const [B, L] = batch.item.shape;
    const d = cfg.dModel;
    const H = cfg.heads;
    const dh = d / H;
    const N = B * L;
    if (L !== cfg.maxLen) throw new FedProfileError('BAD_INPUT', `Batch length ${L} differs from the model's maxLen ${cfg.maxLen}.`);
    // Additive key-padding mask, [1,B,1,L] (attention runs as [H,B,L,L]): 0 for real events (incl. MASK),
    // -1e9 for PAD.
    const padOnly = tf.reshape(tf.mul(tf.cast(tf.equal(batch.item, 0), 'float32'), -1e9), [1, B, 1, L]);
    // Causal: query l may not attend to keys after it ([1,1,L,L] upper triangle at -1e9).
    const padBias = cfg.causal
      ? tf.add(padOnly, tf.reshape(tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([L, L]), -1, 0)), -1e9), [1, 1, L, L]))
      : padOnly;
    const scale = 1 / Math.sqrt(dh);
    let x = this.dropout(this.embed(batch), training, dropoutSeed, 0);
    let lastAttention: tf.Tensor4D | undefined;
    this.blocks.forEach((blk, i) => {
      const qkv = tf.fused.matMul({ a: x, b: adapted(blk.qkvK, blk.lora?.qkv), bias: blk.qkvB });
      // [N,3d] -> [B,L,3H,dh] -> [3H,B,L,dh]: one transpose puts q, k and v in attention layout as three
      // contiguous blocks of heads, so the split is three plain copies.
      const heads = tf.transpose(tf.reshape(qkv, [B, L, 3 * H, dh]), [2, 0, 1, 3]);
      const [q, k, v] = tf.split(heads, 3, 0) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const scores = tf.add(tf.matMul(tf.mul(q!, scale), k!, false, true), padBias);
      const probs = tf.softmax(scores) as tf.Tensor4D;
      if (keepAttention && i === this.blocks.length - 1) lastAttention = probs;
      let ctx = tf.reshape(tf.transpose(tf.matMul(probs, v!), [1, 2, 0, 3]), [N, d]) as tf.Tensor2D;
      if (rows !== undefined && i === this.blocks.length - 1) {
        ctx = tf.gather(ctx, rows);
        x = tf.gather(x, rows);
      }
      const attnOut = this.dropout(this.adapter(tf.fused.matMul({ a: ctx, b: adapted(blk.outK, blk.lora?.out), bias: blk.outB }) as tf.Tensor2D, blk.adapters?.attn), training, dropoutSeed, 1 + 2 * i);
      x = this.ln(tf.add(x, attnOut), blk.ln1G, blk.ln1B);
      const inner = tf.fused.matMul({ a: x, b: adapted(blk.ffInK, blk.lora?.ffIn), bias: blk.ffInB });
      const act = (this.fused ? gelu(inner) : plainGelu(inner)) as tf.Tensor2D;
      const ffOut = this.dropout(this.adapter(tf.fused.matMul({ a: act, b: adapted(blk.ffOutK, blk.lora?.ffOut), bias: blk.ffOutB }) as tf.Tensor2D, blk.adapters?.ffn), training, dropoutSeed, 2 + 2 * i);
      x = this.ln(tf.add(x, ffOut), blk.ln2G, blk.ln2B);
    });
    return { hidden: x, lastAttention };
  }

  /**
   * A sublayer's output h through its bottleneck adapter (Houlsby et al. 2019): h + up(gelu(down(h))), before
   * the block's residual and LayerNorm; h itself without one.
   */
  private adapter(h: tf.Tensor2D, a: Adapter | undefined): tf.Tensor2D {
    if (!a) return h;
    const down = tf.fused.matMul({ a: h, b: a.downK as tf.Tensor2D, bias: a.downB });
    const act = (this.fused ? gelu(down) : plainGelu(down)) as tf.Tensor2D;
    return tf.add(h, tf.fused.matMul({ a: act, b: a.upK as tf.Tensor2D, bias: a.upB })) as tf.Tensor2D;
  }

  /** Contextual hidden states [B,L,d]. */
  encode(batch: ModelBatch, training: boolean, dropoutSeed?: number): tf.Tensor3D {
    const [B, L] = batch.item.shape;
    return tf.reshape(this.forward(batch, training, dropoutSeed, false).hidden, [B, L, this.config.dModel]) as tf.Tensor3D;
  }

  /** Masked mean of the hidden states of the real (non-PAD) positions: [B,d]. */
  userEmbedding(hidden: tf.Tensor3D, batch: ModelBatch): tf.Tensor2D {
    const mask = tf.expandDims(tf.cast(tf.notEqual(batch.item, 0), 'float32'), 2);
    const count = tf.maximum(tf.sum(mask, 1), 1);
    const mean = tf.div(tf.sum(tf.mul(hidden, mask), 1), count);
    // Sequences are left-padded, so position L-1 is always the latest event. A plain mean washes out recency,
    // which is what interests and propensity depend on most; averaging in the latest state keeps it.
    const [B, L, d] = hidden.shape;
    const latest = tf.reshape(tf.slice(hidden, [0, L - 1, 0], [B, 1, d]), [B, d]);
    return tf.mul(tf.add(mean, latest), 0.5) as tf.Tensor2D;
  }

  /**
   * Next-item scores [B,V] for a batch built by nextItemInput: the latest position's state (a MASK appended,
   * or under causal attention the latest event) through the item output.
   */
  nextItemLogits(nextBatch: ModelBatch): tf.Tensor2D {
    const [B, L] = nextBatch.item.shape;
    const d = this.config.dModel;
    const h = this.encode(nextBatch, false);
    return this.itemLogits(tf.reshape(tf.slice(h, [0, L - 1, 0], [B, 1, d]), [B, d]) as tf.Tensor2D);
  }

  /** Scores over the item vocabulary for hidden states h [N,d]: tied item embedding + output bias. */
  itemLogits(h: tf.Tensor2D): tf.Tensor2D {
    return tf.fused.matMul({ a: h, b: tf.transpose(this.w('embed/item')) as tf.Tensor2D, bias: this.w('head/item/bias') }) as tf.Tensor2D;
  }

  /**
   * The profile heads, wide & deep: a linear deep part on the encoder's user embedding plus a wide part linear
   * in the explicit user features (batch.features, see user-features.ts), initialised at the rule each head
   * has to beat, so training starts from the rule and the deep part adds what the rule cannot see.
   */
  headLogits(userEmb: tf.Tensor2D, features: tf.Tensor2D): { propensity: tf.Tensor1D; interests: tf.Tensor2D; tier: tf.Tensor2D } {
    const lin = (name: string) => tf.fused.matMul({ a: userEmb, b: this.w(`head/${name}/kernel`) as tf.Tensor2D, bias: this.w(`head/${name}/bias`) }) as tf.Tensor2D;
    const layout = userFeatureLayout(this.config);
    const [B] = userEmb.shape;
    if (features.shape[0] !== B || features.shape[1] !== layout.size) {
      throw new FedProfileError('BAD_INPUT', `headLogits: features are [${features.shape}], expected [${B}, ${layout.size}].`);
    }
    const { perCategory, global } = this.wideInputs(features);
    const wideInterests = tf.sum(tf.mul(perCategory, tf.reshape(this.w('head/interests/wide'), [1, layout.categoryBlocks, 1])), 1);
    return {
      propensity: tf.reshape(tf.add(lin('propensity'), tf.matMul(global, this.w('head/propensity/wide') as tf.Tensor2D)), [-1]) as tf.Tensor1D,
      interests: tf.add(lin('interests'), wideInterests) as tf.Tensor2D,
      tier: tf.add(lin('tier'), tf.matMul(global, this.w('head/tier/wide') as tf.Tensor2D)) as tf.Tensor2D,
    };
  }

  /**
   * The heads' rules alone: the wide parts at their initial weights (see wideInit), i.e. the logits a fresh
   * model's heads give. What the served heads blend with the trained ones (head-gate.ts).
   */
  ruleHeadLogits(features: tf.Tensor2D): { propensity: tf.Tensor1D; interests: tf.Tensor2D } {
    const layout = userFeatureLayout(this.config);
    const wide = wideInit(this.config);
    const { perCategory, global } = this.wideInputs(features);
    return {
      propensity: tf.reshape(tf.matMul(global, tf.tensor2d(wide.propensity, [layout.global, 1])), [-1]) as tf.Tensor1D,
      interests: tf.sum(tf.mul(perCategory, tf.tensor3d(wide.interests, [1, layout.categoryBlocks, 1])), 1) as tf.Tensor2D,
    };
  }

  /** The wide parts' inputs: scaled per-category feature maps [B,K,C] and the global features [B,G]. */
  private wideInputs(features: tf.Tensor2D): { perCategory: tf.Tensor3D; global: tf.Tensor2D } {
    const layout = userFeatureLayout(this.config);
    const [B] = features.shape;
    const K = layout.categoryBlocks;
    const C = layout.categories;
    const scaled = tf.mul(features, WIDE_FEATURE_SCALE) as tf.Tensor2D;
    return {
      perCategory: tf.reshape(tf.slice(scaled, [0, 0], [B, K * C]), [B, K, C]) as tf.Tensor3D,
      global: tf.slice(scaled, [0, layout.globalOffset], [B, layout.global]) as tf.Tensor2D,
    };
  }

  /** The blend of rule and trained head each head is served with, chosen on validation (head-gate.ts). */
  headGate(): HeadGate {
    const v = this.maybeWeight(HEAD_GATE_WEIGHT);
    return v ? chooseHeadGate(v.dataSync() as Float32Array) : TRAINED_HEADS;
  }

  /** The trained heads and the rules side by side, before any blending. */
  profileHeadParts(batch: ModelBatch): { user: tf.Tensor2D; trained: ReturnType<ProfileModel['headLogits']>; rule: ReturnType<ProfileModel['ruleHeadLogits']> } {
    const user = this.userEmbedding(this.encode(batch, false), batch);
    return { user, trained: this.headLogits(user, batch.features), rule: this.ruleHeadLogits(batch.features) };
  }

  /**
   * The user embedding and the served head logits of a batch: the one path evaluation, profiling and
   * explanations share. Each head is its trained self blended with its rule as the validation gate says.
   */
  profileHeads(batch: ModelBatch, training: boolean, dropoutSeed?: number): {
    user: tf.Tensor2D; logits: ReturnType<ProfileModel['headLogits']>;
  } {
    const user = this.userEmbedding(this.encode(batch, training, dropoutSeed), batch);
    const trained = this.headLogits(user, batch.features);
    const gate = this.headGate();
    if (gate.interests === 1 && gate.propensity === 1) return { user, logits: trained };
    const rule = this.ruleHeadLogits(batch.features);
    const blend = <T extends tf.Tensor>(r: T, t: T, alpha: number): T => (alpha === 1 ? t : tf.add(tf.mul(r, 1 - alpha), tf.mul(t, alpha)) as T);
    return {
      user,
      logits: { ...trained, interests: blend(rule.interests, trained.interests, gate.interests), propensity: blend(rule.propensity, trained.propensity, gate.propensity) },
    };
  }

  /**
   * Cloze loss: mean cross-entropy over the full item vocabulary, computed for the masked positions only.
   * positions are flat indices b*L + l, targets the original item ids.
   */
  clozeLoss(batch: ModelBatch, positions: tf.Tensor1D | Int32Array, targets: tf.Tensor1D | Int32Array, training: boolean, dropoutSeed?: number, negatives?: SampledNegatives): tf.Scalar {
    const pos = positions instanceof Int32Array ? tf.tensor1d(positions, 'int32') : positions;
    const tgt = targets instanceof Int32Array ? tf.tensor1d(targets, 'int32') : targets;
    if (pos.shape[0] === 0) throw new FedProfileError('BAD_INPUT', 'clozeLoss: no masked positions in the batch.');
    const h = this.fused
      ? this.forward(batch, training, dropoutSeed, false, pos).hidden
      : tf.gather(this.forward(batch, training, dropoutSeed, false).hidden, pos);
    // Sampled softmax (large catalogues): the targets against the step's shared negatives only.
    if (negatives !== undefined) return sampledTiedSoftmaxCrossEntropy(h, this.w('embed/item') as tf.Tensor2D, this.w('head/item/bias') as tf.Tensor1D, tgt, negatives);
    const ce = this.fused ? tiedSoftmaxCrossEntropy : plainTiedSoftmaxCrossEntropy;
    return ce(h, this.w('embed/item') as tf.Tensor2D, this.w('head/item/bias') as tf.Tensor1D, tgt);
  }

  /** BCE(propensity) + BCE(interests, mean over categories) + CE(tier), each averaged over the batch. */
  finetuneLoss(batch: ModelBatch, t: FinetuneTargets, training: boolean, dropoutSeed?: number): tf.Scalar {
    const user = this.userEmbedding(this.encode(batch, training, dropoutSeed), batch);
    const C = this.config.categoryVocab;
    const T = this.config.numTiers;
    const tierOneHot = tf.oneHot(tf.cast(t.tier, 'int32') as tf.Tensor1D, T);
    const headsLoss = (p: tf.Tensor1D, i: tf.Tensor2D, tr: tf.Tensor2D) => [
      tf.losses.sigmoidCrossEntropy(t.purchased, p),
      tf.losses.sigmoidCrossEntropy(t.interests, i),
      tf.losses.softmaxCrossEntropy(tierOneHot, tr),
    ];
    // The encoder learns the profile from the sequence alone, through deep-only heads that inference never
    // reads: with the wide part in the loss, it would only see the residual the rules leave, and learning the
    // whole profile is what teaches it categories and prices (next-item ranking depends on that). The fused
    // heads then learn on top of the embedding, without pulling the encoder toward that residual.
    const fused = this.headLogits(stopGradient(user), batch.features);
    const aux = tf.fused.matMul({ a: user, b: this.w('head/aux/kernel') as tf.Tensor2D, bias: this.w('head/aux/bias') }) as tf.Tensor2D;
    const B = user.shape[0];
    // Auxiliary interests also score the user against the category input embeddings (tied, like the item
    // output): a user whose recent events carry a category starts close to that category's embedding.
    const auxInterests = tf.slice(aux, [0, 1], [B, C]) as tf.Tensor2D;
    const auxLoss = headsLoss(
      tf.reshape(tf.slice(aux, [0, 0], [B, 1]), [-1]) as tf.Tensor1D,
      this.fields.category ? tf.add(auxInterests, tf.matMul(user, this.w('embed/category'), false, true)) as tf.Tensor2D : auxInterests,
      tf.slice(aux, [0, 1 + C], [B, T]) as tf.Tensor2D,
    );
    return tf.addN([...headsLoss(fused.propensity, fused.interests, fused.tier), ...auxLoss, this.ruleAnchor()]) as tf.Scalar;
  }

  /**
   * (HEAD_ANCHOR/2)·||w − w_rule||² over the fused heads' weights, w_rule being their initial values (the
   * rules for the wide parts, zero for the deep kernels): the heads leave the rules only as far as the labels
   * keep pulling them, which stops many fine-tuning epochs from fitting noise in the label windows.
   */
  private ruleAnchor(): tf.Scalar {
    const wide = wideInit(this.config);
    const anchored: [string, Float32Array | undefined][] = [
      ['head/interests/wide', wide.interests], ['head/propensity/wide', wide.propensity], ['head/tier/wide', wide.tier],
      ['head/interests/kernel', undefined], ['head/propensity/kernel', undefined], ['head/tier/kernel', undefined],
    ];
    const terms = anchored.map(([name, init]) => {
      const w = this.w(name);
      return tf.sum(tf.square(init ? tf.sub(w, tf.tensor(init, w.shape, 'float32')) : w));
    });
    return tf.mul(tf.addN(terms), HEAD_ANCHOR / 2) as tf.Scalar;
  }

  /**
   * Which events weighed most: attention the last layer's real positions pay to each event, averaged over
   * heads and normalised to sum 1 over the real events of each sequence. [B,L], 0 at PAD.
   */
  eventSaliency(batch: ModelBatch): tf.Tensor2D {
    return tf.tidy(() => {
      const { lastAttention } = this.forward(batch, false, undefined, true);
      const att = tf.mean(lastAttention!, 0) as tf.Tensor3D; // [H,B,Lq,Lk] -> [B,Lq,Lk]
      const real = tf.cast(tf.notEqual(batch.item, 0), 'float32') as tf.Tensor2D;
      const received = tf.squeeze(tf.matMul(tf.expandDims(real, 1), att), [1]); // sum over real queries
      const masked = tf.mul(received, real);
      return tf.div(masked, tf.maximum(tf.sum(masked, 1, true), 1e-12)) as tf.Tensor2D;
    });
  }

  /** Number of weights (all, or only the ones a Cloze step trains: everything but the profile heads). */
  paramCount(which: 'all' | 'cloze' = 'all'): number {
    return this.weights
      .filter((w) => which === 'all' || ((!w.name.startsWith('head/') || w.name === 'head/item/bias') && !isStatisticWeight(w.name)))
      .reduce((n, w) => n + w.variable.size, 0);
  }

  dispose(): void {
    this.weights.forEach((w) => w.variable.dispose());
  }
}
