import * as tf from '@tensorflow/tfjs';

/**
 * Fused building blocks of the profile model with hand-written gradients. Autodiff of the composite
 * formulas records 2-3x more kernels per step than these; each kernel launch costs on the wasm backend.
 * The `plain*` twins are the textbook compositions, kept to test the fused versions and to measure them.
 */

type Saver = (tensors: tf.Tensor[]) => void;
type GradFn = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
type Body = (...args: (tf.Tensor | Saver)[]) => { value: tf.Tensor; gradFunc: GradFn };

function custom<T extends tf.Tensor>(body: Body): (...inputs: tf.Tensor[]) => T {
  const f = tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]);
  return (...inputs: tf.Tensor[]) => f(...inputs) as T;
}

export const LN_EPS = 1e-5;

/** LayerNorm over the last axis of x [N,d] (PyTorch eps 1e-5). */
export const layerNorm = custom<tf.Tensor2D>((x, gamma, beta, save) => {
  const xs = x as tf.Tensor2D;
  const [xhat, rstd] = tf.tidy(() => {
    const mean = tf.mean(xs, -1, true);
    const xc = tf.sub(xs, mean);
    const variance = tf.mean(tf.square(xc), -1, true);
    const r = tf.rsqrt(tf.add(variance, LN_EPS));
    return [tf.mul(xc, r), r];
  });
  (save as Saver)([xhat!, rstd!, gamma as tf.Tensor]);
  const value = tf.add(tf.mul(xhat!, gamma as tf.Tensor), beta as tf.Tensor);
  return {
    value,
    gradFunc: (dy, [xh, rs, g]) => {
      const dxhat = tf.mul(dy, g!);
      const dgamma = tf.sum(tf.mul(dy, xh!), 0);
      const dbeta = tf.sum(dy, 0);
      const m1 = tf.mean(dxhat, -1, true);
      const m2 = tf.mean(tf.mul(dxhat, xh!), -1, true);
      const dx = tf.mul(rs!, tf.sub(tf.sub(dxhat, m1), tf.mul(xh!, m2)));
      return [dx, dgamma, dbeta];
    },
  };
});

export function plainLayerNorm(x: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, LN_EPS))), gamma), beta);
}

const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Exact (erf) GELU, as torch.nn.functional.gelu. */
export const gelu = custom<tf.Tensor>((x, save) => {
  const xs = x as tf.Tensor;
  const cdf = tf.tidy(() => tf.mul(tf.add(tf.erf(tf.mul(xs, INV_SQRT2)), 1), 0.5));
  (save as Saver)([xs, cdf]);
  return {
    value: tf.mul(xs, cdf),
    gradFunc: (dy, [xv, c]) => {
      // d/dx x·Φ(x) = Φ(x) + x·φ(x)
      const pdf = tf.mul(tf.exp(tf.mul(tf.square(xv!), -0.5)), INV_SQRT_2PI);
      return [tf.mul(dy, tf.add(c!, tf.mul(xv!, pdf)))];
    },
  };
});

export function plainGelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, INV_SQRT2)), 1));
}

/**
 * Mean cross-entropy of the tied output projection logits = h·Eᵀ + bias against `targets`, fused with the
 * projection so the [M,V] gradient is formed once and the table gradient comes out as (hᵀ·g)ᵀ: that
 * transposes a [d,V] block instead of the [M,V] logits gradient. targets are int32 [M].
 */
export function tiedSoftmaxCrossEntropy(h: tf.Tensor2D, table: tf.Tensor2D, bias: tf.Tensor1D, targets: tf.Tensor1D): tf.Scalar {
  const f = custom<tf.Scalar>((hIn, eIn, bIn, save) => {
    const hh = hIn as tf.Tensor2D;
    const ee = eIn as tf.Tensor2D;
    const bb = bIn as tf.Tensor1D;
    const m = hh.shape[0];
    const v = ee.shape[0];
    const [probs, loss] = tf.tidy(() => {
      const logits = tf.fused.matMul({ a: hh, b: tf.transpose(ee), bias: bb });
      // One native softmax (vectorised in XNNPACK on wasm) instead of max/sub/exp/sum passes; the loss only
      // needs log p at the M targets. The floor keeps an underflowed p finite (loss ~85 instead of inf).
      const p = tf.softmax(logits);
      const flatIdx = tf.add(tf.mul(tf.range(0, m, 1, 'int32'), tf.scalar(v, 'int32')), targets);
      const picked = tf.maximum(tf.gather(tf.reshape(p, [-1]), flatIdx), 1e-37);
      return [p, tf.neg(tf.mean(tf.log(picked)))];
    });
    // targets are saved too: tensors that are only captured by the closure are freed after the forward pass.
    (save as Saver)([hh, ee, probs!, targets]);
    return {
      value: loss!,
      gradFunc: (dy, [hs, es, p, t]) => {
        const g = tf.mul(tf.sub(p!, tf.oneHot(t as tf.Tensor1D, v, 1, 0, 'float32')), tf.div(dy, m)) as tf.Tensor2D;
        const dh = tf.matMul(g, es!);
        // [hᵀ; 1]·g gives the table gradient (transposed) and, in its last row, the bias gradient: one
        // matmul row is cheaper than a separate column sum over [M,V].
        const d = hs!.shape[1]!;
        const both = tf.matMul(tf.concat([tf.transpose(hs!), tf.ones([1, m])], 0), g);
        const dE = tf.transpose(tf.slice(both, [0, 0], [d, v]));
        const db = tf.reshape(tf.slice(both, [d, 0], [1, v]), [v]);
        return [dh, dE, db];
      },
    };
  });
  return f(h, table, bias);
}

export function plainTiedSoftmaxCrossEntropy(h: tf.Tensor2D, table: tf.Tensor2D, bias: tf.Tensor1D, targets: tf.Tensor1D): tf.Scalar {
  const logits = tf.add(tf.matMul(h, table, false, true), bias);
  return tf.losses.softmaxCrossEntropy(tf.oneHot(targets, table.shape[0]), logits) as tf.Scalar;
}

/** The shared negatives of one sampled-softmax step and, per target row, where they hit the target. */
export interface SampledNegatives {
  /** Item ids [S], drawn for the step and shared by all rows. */
  ids: tf.Tensor1D;
  /** [M,S]: -1e9 where negative s is row m's own target (an accidental hit), else 0. */
  hitMask: tf.Tensor2D;
}

/** Tensors for sampledTiedSoftmaxCrossEntropy; the hit mask is built here on the host (the wasm broadcast Equal is slow). */
export function sampledNegatives(targets: Int32Array, ids: Int32Array): SampledNegatives {
  const mask = new Float32Array(targets.length * ids.length);
  targets.forEach((t, m) => ids.forEach((id, s) => { if (id === t) mask[m * ids.length + s] = -1e9; }));
  return { ids: tf.tensor1d(ids, 'int32'), hitMask: tf.tensor2d(mask, [targets.length, ids.length]) };
}

/**
 * Sampled softmax for large catalogues: the cross-entropy of each row's target against the shared negatives
 * (item ids drawn uniformly for the step) instead of the whole vocabulary, so the output cost is M·S·d
 * instead of M·V·d. With uniform proposals the usual log-Q correction is the same for every candidate and
 * cancels. Accidental hits are masked out. Mean over rows. The gradient is written by hand over the gathered
 * rows (autodiff of logSumExp runs broadcast comparisons that are slow on wasm); tf.gather's own gradient
 * scatters it back into the table.
 */
export function sampledTiedSoftmaxCrossEntropy(h: tf.Tensor2D, table: tf.Tensor2D, bias: tf.Tensor1D, targets: tf.Tensor1D, negatives: SampledNegatives): tf.Scalar {
  const f = custom<tf.Scalar>((hIn, etIn, btIn, enIn, bnIn, save) => {
    const hh = hIn as tf.Tensor2D;
    const et = etIn as tf.Tensor2D;
    const en = enIn as tf.Tensor2D;
    const m = hh.shape[0];
    const [probs, loss] = tf.tidy(() => {
      const pos = tf.add(tf.sum(tf.mul(hh, et), 1), btIn as tf.Tensor1D);
      const neg = tf.add(tf.add(tf.matMul(hh, en, false, true), bnIn as tf.Tensor1D), negatives.hitMask);
      const p = tf.softmax(tf.concat([tf.expandDims(pos, 1), neg], 1));
      const picked = tf.maximum(tf.slice(p, [0, 0], [m, 1]), 1e-37);
      return [p, tf.neg(tf.mean(tf.log(picked)))];
    });
    (save as Saver)([hh, et, en, probs!]);
    return {
      value: loss!,
      gradFunc: (dy, [hs, ets, ens, p]) => {
        const s = ens!.shape[0];
        const scale = tf.div(dy, m);
        const gpos = tf.mul(tf.sub(tf.slice(p!, [0, 0], [m, 1]), 1), scale) as tf.Tensor2D; // [M,1]
        const gneg = tf.mul(tf.slice(p!, [0, 1], [m, s]), scale) as tf.Tensor2D; // [M,S]
        const dh = tf.add(tf.mul(gpos, ets!), tf.matMul(gneg, ens!));
        const dEt = tf.mul(gpos, hs!);
        const dbt = tf.reshape(gpos, [m]);
        const dEn = tf.matMul(gneg, hs!, true, false);
        const dbn = tf.sum(gneg, 0);
        return [dh, dEt, dbt, dEn, dbn];
      },
    };
  });
  return f(h, tf.gather(table, targets), tf.gather(bias, targets), tf.gather(table, negatives.ids), tf.gather(bias, negatives.ids));
}
