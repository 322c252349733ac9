import * as tf from '@tensorflow/tfjs';
import { ADAM_STEP, hasAdamKernel, registerAdamKernel } from '../tf/adam-kernel.js';

registerAdamKernel();

export interface AdamOptions { learningRate: number; beta1?: number; beta2?: number; epsilon?: number }

/**
 * Adam (PyTorch semantics: eps added to sqrt(v̂), defaults 0.9/0.999/1e-8) for a fixed list of variables,
 * one fused kernel per variable on wasm/cpu. Moments are kept per variable, so the list may not change.
 */
export class FusedAdam {
  private readonly moments = new Map<tf.Variable, { m: tf.Tensor; v: tf.Tensor }>();
  private step = 0;
  private readonly fallback: tf.Optimizer | undefined;

  constructor(private readonly opts: AdamOptions) {
    this.fallback = hasAdamKernel() ? undefined : tf.train.adam(opts.learningRate, opts.beta1 ?? 0.9, opts.beta2 ?? 0.999, opts.epsilon ?? 1e-8);
  }

  /** Computes the gradients of f over vars, applies one update and returns the loss value. */
  minimize(f: () => tf.Scalar, vars: tf.Variable[]): number {
    const { value, grads } = tf.variableGrads(f, vars);
    const loss = value.dataSync()[0]!;
    value.dispose();
    this.apply(grads);
    return loss;
  }

  apply(grads: tf.NamedTensorMap): void {
    if (this.fallback !== undefined) {
      this.fallback.applyGradients(grads);
      tf.dispose(Object.values(grads));
      return;
    }
    this.step++;
    const attrs = { lr: this.opts.learningRate, beta1: this.opts.beta1 ?? 0.9, beta2: this.opts.beta2 ?? 0.999, eps: this.opts.epsilon ?? 1e-8, step: this.step };
    for (const [name, g] of Object.entries(grads)) {
      const variable = tf.engine().registeredVariables[name];
      if (variable === undefined) continue;
      let st = this.moments.get(variable);
      if (st === undefined) {
        st = { m: tf.keep(tf.zerosLike(variable)), v: tf.keep(tf.zerosLike(variable)) };
        this.moments.set(variable, st);
      }
      const [w2, m2, v2] = tf.engine().runKernel(ADAM_STEP, { w: variable, m: st.m, v: st.v, g }, attrs) as tf.Tensor[];
      variable.assign(w2!);
      w2!.dispose();
      st.m.dispose();
      st.v.dispose();
      st.m = tf.keep(m2!);
      st.v = tf.keep(v2!);
      g.dispose();
    }
  }

  dispose(): void {
    for (const st of this.moments.values()) tf.dispose([st.m, st.v]);
    this.moments.clear();
    this.fallback?.dispose();
  }
}
