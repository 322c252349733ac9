import * as tf from '@tensorflow/tfjs';

/**
 * One Adam update per variable as a single pass: w, m, v, g in; w', m', v' out. The generic optimiser spends
 * ~14 kernels per variable (more than the model's forward and backward together) and as many passes over
 * memory. Registered for the 'wasm' and 'cpu' backends; elsewhere callers fall back to tf.train.adam.
 */
export const ADAM_STEP = 'FedProfileAdamStep';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };
type KernelFunc = Parameters<typeof tf.registerKernel>[0]['kernelFunc'];

interface Io {
  read(t: tf.TensorInfo): Float32Array;
  /** Allocates every output first, then returns views (allocating may move the wasm heap). */
  alloc(shape: number[], count: number): { infos: tf.TensorInfo[]; views: Float32Array[] };
}

function wasmIo(backend: unknown): Io {
  const b = backend as { makeOutput(s: number[], d: 'float32'): tf.TensorInfo; typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
  return {
    read: (t) => b.typedArrayFromHeap(t),
    alloc: (shape, count) => {
      const infos = Array.from({ length: count }, () => b.makeOutput(shape, 'float32'));
      return { infos, views: infos.map((i) => b.typedArrayFromHeap(i)) };
    },
  };
}

function cpuIo(backend: unknown): Io {
  const b = backend as { data: { get(id: object): { values: unknown } }; makeTensorInfo(s: number[], d: 'float32', v: Float32Array): tf.TensorInfo };
  return {
    read: (t) => b.data.get(t.dataId).values as Float32Array,
    alloc: (shape, count) => {
      const n = shape.reduce((x, y) => x * y, 1);
      const views = Array.from({ length: count }, () => new Float32Array(n));
      return { infos: views.map((v) => b.makeTensorInfo(shape, 'float32', v)), views };
    },
  };
}

/** attrs: lr, beta1, beta2, eps, step (1-based, for bias correction). */
function adamStep(io: Io, args: KernelArgs): tf.TensorInfo[] {
  const { w, m, v, g } = args.inputs as { w: tf.TensorInfo; m: tf.TensorInfo; v: tf.TensorInfo; g: tf.TensorInfo };
  const a = args.attrs ?? {};
  const lr = Number(a.lr);
  const b1 = Number(a.beta1);
  const b2 = Number(a.beta2);
  const eps = Number(a.eps);
  const t = Number(a.step);
  const { infos, views: [w2, m2, v2] } = io.alloc([...w.shape], 3);
  const ws = io.read(w);
  const ms = io.read(m);
  const vs = io.read(v);
  const gs = io.read(g);
  const c1 = 1 / (1 - b1 ** t);
  const c2 = 1 / (1 - b2 ** t);
  for (let i = 0; i < ws.length; i++) {
    const gi = gs[i]!;
    const mi = b1 * ms[i]! + (1 - b1) * gi;
    const vi = b2 * vs[i]! + (1 - b2) * gi * gi;
    m2![i] = mi;
    v2![i] = vi;
    w2![i] = ws[i]! - (lr * mi * c1) / (Math.sqrt(vi * c2) + eps);
  }
  return infos;
}

/** Idempotent; safe before the backend is initialised. */
export function registerAdamKernel(): void {
  for (const [backendName, io] of [['wasm', wasmIo], ['cpu', cpuIo]] as const) {
    if (tf.getKernel(ADAM_STEP, backendName) !== undefined) continue;
    const kernelFunc = ((args: KernelArgs) => adamStep(io(args.backend), args)) as unknown as KernelFunc;
    tf.registerKernel({ kernelName: ADAM_STEP, backendName, kernelFunc });
  }
}

export function hasAdamKernel(): boolean {
  return tf.getKernel(ADAM_STEP, tf.getBackend()) !== undefined;
}
