import * as tf from '@tensorflow/tfjs';

/**
 * Kernels that fill the gaps of @tensorflow/tfjs-backend-wasm 4.22: they run on the wasm heap directly, so no
 * data leaves wasm memory. Registered (and unregistered, for "stock" measurements) by shared/tf/backend.ts.
 */

interface WasmTensorData { memoryOffset: number }
/** The part of BackendWasm these kernels touch (the class is not exported with typings we can rely on). */
export interface WasmBackendLike {
  dataIdMap: { get(dataId: object): WasmTensorData | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object): boolean;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };
type KernelResult = tf.TensorInfo | tf.TensorInfo[];
type KernelFunc = (args: KernelArgs) => KernelResult;

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** UnsortedSegmentSum: out[seg[i], ...] += x[i, ...]. Needed by the gradient of tf.gather (embeddings). */
export function unsortedSegmentSumWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const x = args.inputs.x;
  const segmentIds = args.inputs.segmentIds;
  const numSegments = Number(args.attrs?.numSegments);
  if (x === undefined || segmentIds === undefined) throw new Error('UnsortedSegmentSum: missing inputs');
  const idsRank = segmentIds.shape.length;
  const inner = sizeOf(x.shape.slice(idsRank));
  const outShape = [numSegments, ...x.shape.slice(idsRank)];
  const out = backend.makeOutput(outShape, x.dtype);
  const dst = backend.typedArrayFromHeap(out);
  dst.fill(0);
  const src = backend.typedArrayFromHeap(x);
  const seg = backend.typedArrayFromHeap(segmentIds);
  const n = seg.length;
  for (let i = 0; i < n; i++) {
    const s = seg[i]!;
    if (s < 0 || s >= numSegments) continue; // TF semantics: out-of-range segment ids are dropped
    const so = i * inner;
    const d = s * inner;
    for (let j = 0; j < inner; j++) dst[d + j]! += src[so + j]!;
  }
  return out;
}

interface WasmModuleLike {
  cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
  tfjs: { registerTensor(id: number, size: number, memoryOffset: number): void; disposeData(id: number): void };
}
interface WasmBackendInternals extends WasmBackendLike { wasm: WasmModuleLike; dataIdNextNumber: number }

let rawMatMul: ((...args: unknown[]) => void) | undefined;

const shapeBytes = (shape: readonly number[]) => new Uint8Array(new Int32Array(shape).buffer);

/**
 * out[i] = a[i] · b[i] for i < batch, each slice through XNNPACK. The wasm kernel only uses XNNPACK when the
 * batch is 1 and otherwise runs a scalar triple loop, so attention ([B·H, L, dh] batches) is slow. The
 * slices are zero-copy views of the heap registered under fresh tensor ids (unregistered right after, which
 * also drops the operator XNNPACK cached for that id).
 */
function slicedMatMul(backend: WasmBackendInternals, a: tf.TensorInfo, b: tf.TensorInfo, batch: number, m: number, k: number, n: number): tf.TensorInfo {
  rawMatMul ??= backend.wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']);
  const out = backend.makeOutput([batch, m, n], 'float32');
  const aOff = backend.dataIdMap.get(a.dataId)!.memoryOffset;
  const bOff = backend.dataIdMap.get(b.dataId)!.memoryOffset;
  const oOff = backend.dataIdMap.get(out.dataId)!.memoryOffset;
  const aShape = shapeBytes([1, m, k]);
  const bShape = shapeBytes([1, k, n]);
  const reg = backend.wasm.tfjs;
  for (let i = 0; i < batch; i++) {
    const ia = backend.dataIdNextNumber++;
    const ib = backend.dataIdNextNumber++;
    const io = backend.dataIdNextNumber++;
    reg.registerTensor(ia, m * k, aOff + i * m * k * 4);
    reg.registerTensor(ib, k * n, bOff + i * k * n * 4);
    reg.registerTensor(io, m * n, oOff + i * m * n * 4);
    rawMatMul(ia, aShape, 3, ib, bShape, 3, 0, 0, io);
    reg.disposeData(ia);
    reg.disposeData(ib);
    reg.disposeData(io);
  }
  return out;
}

/**
 * BatchMatMul that always ends on XNNPACK: transposed operands are transposed explicitly first (the stock
 * kernel runs transposeA/transposeB through a slow scalar loop), and batched products go slice by slice.
 */
export function makeFastBatchMatMul(original: KernelFunc, transpose: KernelFunc): KernelFunc {
  return (args: KernelArgs): KernelResult => {
    const transposeA = Boolean(args.attrs?.transposeA);
    const transposeB = Boolean(args.attrs?.transposeB);
    const a = args.inputs.a!;
    const b = args.inputs.b!;
    const batchA = sizeOf(a.shape.slice(0, -2));
    const batchB = sizeOf(b.shape.slice(0, -2));
    if (!transposeA && !transposeB && batchA === 1 && batchB === 1) return original(args);
    const backend = args.backend as WasmBackendInternals;
    const swapLast = (t: tf.TensorInfo): tf.TensorInfo => {
      const r = t.shape.length;
      const perm = [...Array(r).keys()];
      perm[r - 1] = r - 2;
      perm[r - 2] = r - 1;
      return transpose({ inputs: { x: t }, backend: args.backend, attrs: { perm } }) as tf.TensorInfo;
    };
    const ta = transposeA ? swapLast(a) : a;
    const tb = transposeB ? swapLast(b) : b;
    try {
      const nonEmpty = sizeOf(a.shape) > 0 && sizeOf(b.shape) > 0;
      if (batchA === batchB && batchA > 1 && nonEmpty && a.dtype === 'float32' && b.dtype === 'float32') {
        const m = ta.shape[ta.shape.length - 2]!;
        const k = ta.shape[ta.shape.length - 1]!;
        const n = tb.shape[tb.shape.length - 1]!;
        if (k !== tb.shape[tb.shape.length - 2]) throw new Error(`matMul: inner shapes ${k} and ${tb.shape[tb.shape.length - 2]} differ`);
        const out = slicedMatMul(backend, ta, tb, batchA, m, k, n);
        out.shape = [...ta.shape.slice(0, -2), m, n];
        return out;
      }
      return original({ inputs: { a: ta, b: tb }, backend: args.backend, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
    } finally {
      if (ta !== a) backend.disposeData(ta.dataId);
      if (tb !== b) backend.disposeData(tb.dataId);
    }
  };
}

/**
 * OneHot: the stock wasm kernel ignores the requested dtype and writes int32 bit patterns into float32
 * outputs (1 reads back as 1.4e-45). This one honours dtype, onValue and offValue.
 */
export function oneHotWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const indices = args.inputs.indices;
  if (indices === undefined) throw new Error('OneHot: missing indices');
  const depth = Number(args.attrs?.depth);
  const onValue = Number(args.attrs?.onValue ?? 1);
  const offValue = Number(args.attrs?.offValue ?? 0);
  const dtype = (args.attrs?.dtype ?? 'int32') as tf.DataType;
  const out = backend.makeOutput([...indices.shape, depth], dtype);
  const dst = backend.typedArrayFromHeap(out);
  dst.fill(offValue);
  const idx = backend.typedArrayFromHeap(indices);
  for (let i = 0; i < idx.length; i++) {
    const k = idx[i]!;
    if (k >= 0 && k < depth) dst[i * depth + k] = onValue;
  }
  return out;
}


/**
 * Slice that reads its input as a view of the wasm heap. The stock kernel first copies the *whole* input
 * out of the heap (readSync) for every slice, so tf.split of q/k/v copied the activations once per part.
 */
export function sliceWasm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const x = args.inputs.x!;
  const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, args.attrs?.begin as number[], args.attrs?.size as number[]);
  const out = backend.makeOutput(size, x.dtype);
  if (sizeOf(size) === 0) return out;
  // Views are taken after makeOutput: allocating may grow (and move) the heap.
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const rank = x.shape.length;
  const strides = tf.util.computeStrides(x.shape);
  if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
    const off = tf.slice_util.computeFlatOffset(begin, strides);
    dst.set(src.subarray(off, off + dst.length));
    return out;
  }
  // Copy innermost rows; odometer over the outer output indices.
  const row = size[rank - 1]!;
  const idx = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  for (let o = 0; o < dst.length; o += row) {
    let off = begin[rank - 1]!;
    for (let a = 0; a < rank - 1; a++) off += (begin[a]! + idx[a]!) * strides[a]!;
    dst.set(src.subarray(off, off + row), o);
    for (let a = rank - 2; a >= 0; a--) {
      if (++idx[a]! < size[a]!) break;
      idx[a] = 0;
    }
  }
  return out;
}

/** SplitV through sliceWasm (the stock SplitV calls the stock slice directly, not through the registry). */
export function splitVWasm(args: KernelArgs): tf.TensorInfo[] {
  const x = args.inputs.x!;
  const axis = tf.util.parseAxisParam(args.attrs?.axis as number, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, args.attrs?.numOrSizeSplits as number[] | number, axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[axis] = s;
    const part = sliceWasm({ inputs: { x }, backend: args.backend, attrs: { begin: [...begin], size } });
    begin[axis]! += s;
    return part;
  });
}

/**
 * GatherV2 (batchDims 0) as block copies on the heap: the stock kernel moves one element at a time and took
 * ~9 ms for an embedding lookup of 1600×64 floats.
 */
export function makeFastGather(original: KernelFunc): KernelFunc {
  return (args: KernelArgs): KernelResult => {
    const x = args.inputs.x!;
    const indices = args.inputs.indices!;
    const batchDims = Number(args.attrs?.batchDims ?? 0);
    if (batchDims !== 0 || x.dtype === 'string' || indices.dtype !== 'int32') return original(args);
    const backend = args.backend as WasmBackendLike;
    const axis = tf.util.parseAxisParam(args.attrs?.axis as number, x.shape)[0]!;
    const outer = sizeOf(x.shape.slice(0, axis));
    const dim = x.shape[axis]!;
    const inner = sizeOf(x.shape.slice(axis + 1));
    const n = sizeOf(indices.shape);
    const out = backend.makeOutput([...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)], x.dtype);
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(out);
    const idx = backend.typedArrayFromHeap(indices);
    for (let i = 0; i < n; i++) {
      const k = idx[i]!;
      if (k < 0 || k >= dim) {
        backend.disposeData(out.dataId);
        throw new Error(`GatherV2: the index value ${k} is not in [0, ${dim - 1}]`);
      }
    }
    for (let o = 0; o < outer; o++) {
      const so = o * dim * inner;
      const d0 = o * n * inner;
      for (let i = 0; i < n; i++) {
        const s = so + idx[i]! * inner;
        dst.set(src.subarray(s, s + inner), d0 + i * inner);
      }
    }
    return out;
  };
}

/**
 * Identity by reference, as the cpu backend does it. The stock wasm kernel copies, and the engine clones
 * every tensor it saves for backprop through Identity: ~100 needless copies per training step. Sharing is
 * safe because no kernel writes into its inputs (tensors are immutable; variables swap their dataId).
 */
export function makeSharedIdentity(original: KernelFunc): KernelFunc {
  return (args: KernelArgs): KernelResult => {
    const x = args.inputs.x!;
    if (x.dtype === 'string') return original(args);
    (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}
