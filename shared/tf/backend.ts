import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';
import { FedProfileError } from '../errors.js';
import { makeFastBatchMatMul, makeFastGather, makeSharedIdentity, oneHotWasm, sliceWasm, splitVWasm, unsortedSegmentSumWasm } from './wasm-kernels.js';

export type BackendChoice = 'auto' | 'node-gpu' | 'node' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'node-gpu', 'node', 'wasm', 'cpu'];
const AUTO_ORDER: readonly Exclude<BackendChoice, 'auto'>[] = ['node-gpu', 'node', 'wasm', 'cpu'];

export interface BackendInfo {
  /** tfjs backend name actually active: 'tensorflow' (tfjs-node / -gpu), 'wasm' or 'cpu'. */
  name: string;
  /** Whether the wasm kernel patches are registered. */
  patched: boolean;
}

type KernelFunc = Parameters<typeof tf.registerKernel>[0]['kernelFunc'];
interface PatchState { originals: Map<string, tf.KernelConfig>; enabled: boolean }
const patches: PatchState = { originals: new Map(), enabled: false };
let active: { choice: Exclude<BackendChoice, 'auto'>; info: BackendInfo } | undefined;
let pending: Promise<BackendInfo> | undefined;
let oneHotFixed = false;

function parseChoice(value: string | undefined): BackendChoice {
  const v = (value ?? 'auto').trim().toLowerCase();
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new FedProfileError('BACKEND', `Unknown backend "${value}". Use one of: ${BACKEND_CHOICES.join(', ')}.`);
}

/** Dynamic import with a computed specifier so the optional packages are not required at type-check time. */
async function importOptional(specifier: string): Promise<boolean> {
  try {
    await import(specifier);
    return true;
  } catch {
    return false;
  }
}

function wasmDistDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/';
}

async function tryBackend(choice: Exclude<BackendChoice, 'auto'>): Promise<string | undefined> {
  switch (choice) {
    case 'node-gpu':
    case 'node': {
      const pkg = choice === 'node-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
      if (!(await importOptional(pkg))) return undefined;
      return (await tf.setBackend('tensorflow')) ? 'tensorflow' : undefined;
    }
    case 'wasm': {
      // In Node the .wasm binaries are read from the installed package, never fetched.
      setWasmPaths(wasmDistDir());
      // The emscripten loader installs process-wide handlers that rethrow every uncaught error from inside
      // its minified source (burying the real message under ~40 kB of code); the process's own error
      // handling should stay in charge, so they are removed again.
      const exceptions = new Set(process.listeners('uncaughtException'));
      const rejections = new Set(process.listeners('unhandledRejection'));
      const ok = await tf.setBackend('wasm');
      for (const l of process.listeners('uncaughtException')) if (!exceptions.has(l)) process.removeListener('uncaughtException', l);
      for (const l of process.listeners('unhandledRejection')) if (!rejections.has(l)) process.removeListener('unhandledRejection', l);
      return ok ? 'wasm' : undefined;
    }
    case 'cpu':
      return (await tf.setBackend('cpu')) ? 'cpu' : undefined;
  }
}

function replaceKernel(original: tf.KernelConfig, kernelFunc: KernelFunc): void {
  patches.originals.set(original.kernelName, original);
  tf.unregisterKernel(original.kernelName, 'wasm');
  tf.registerKernel({ ...original, kernelFunc });
}

/**
 * Registers (enabled = true) or removes the wasm speed patches: BatchMatMul always on XNNPACK, Slice/SplitV
 * without a full copy of their input, GatherV2 as block copies, Identity by reference. The correctness
 * fixes (UnsortedSegmentSum, without which embeddings cannot be trained at all, and OneHot, whose stock
 * kernel ignores dtype) are always installed. Exposed so benchmarks can measure the stock kernels in the
 * same process.
 */
export function setWasmPatches(enabled: boolean): void {
  if (tf.getKernel('UnsortedSegmentSum', 'wasm') === undefined) {
    tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSumWasm as unknown as KernelFunc });
  }
  if (!oneHotFixed) {
    tf.unregisterKernel('OneHot', 'wasm');
    tf.registerKernel({ kernelName: 'OneHot', backendName: 'wasm', kernelFunc: oneHotWasm as unknown as KernelFunc });
    oneHotFixed = true;
  }
  if (enabled === patches.enabled) return;
  if (enabled) {
    const original = tf.getKernel('BatchMatMul', 'wasm');
    const transpose = tf.getKernel('Transpose', 'wasm');
    if (original === undefined || transpose === undefined) {
      throw new FedProfileError('BACKEND', 'The wasm backend lacks the BatchMatMul/Transpose kernels to patch.');
    }
    const fast = makeFastBatchMatMul(
      original.kernelFunc as unknown as Parameters<typeof makeFastBatchMatMul>[0],
      transpose.kernelFunc as unknown as Parameters<typeof makeFastBatchMatMul>[1],
    );
    replaceKernel(original, fast as unknown as KernelFunc);
    const identity = tf.getKernel('Identity', 'wasm');
    if (identity !== undefined) replaceKernel(identity, makeSharedIdentity(identity.kernelFunc as unknown as Parameters<typeof makeSharedIdentity>[0]) as unknown as KernelFunc);
    const gather = tf.getKernel('GatherV2', 'wasm');
    if (gather !== undefined) replaceKernel(gather, makeFastGather(gather.kernelFunc as unknown as Parameters<typeof makeFastGather>[0]) as unknown as KernelFunc);
    for (const [name, f] of [['Slice', sliceWasm], ['SplitV', splitVWasm]] as const) {
      const stock = tf.getKernel(name, 'wasm');
      if (stock !== undefined) replaceKernel(stock, f as unknown as KernelFunc);
    }
  } else {
    for (const [name, original] of patches.originals) {
      tf.unregisterKernel(name, 'wasm');
      tf.registerKernel(original);
    }
    patches.originals.clear();
  }
  patches.enabled = enabled;
  if (active !== undefined && active.info.name === 'wasm') active.info.patched = enabled;
}

/**
 * Chooses and initialises the tfjs backend once per process (later calls return the same result unless a
 * different explicit backend is requested). Default: env FEDPROFILE_BACKEND, else 'auto'
 * (node-gpu, node, wasm, cpu). tfjs-node(-gpu) are optional: `npm install @tensorflow/tfjs-node-gpu` on CUDA hosts.
 */
export async function initBackend(preferred?: BackendChoice): Promise<BackendInfo> {
  const choice = preferred ?? parseChoice(process.env.FEDPROFILE_BACKEND);
  if (active !== undefined && (choice === 'auto' || choice === active.choice)) return active.info;
  if (pending !== undefined) {
    await pending.catch(() => undefined);
    if (active !== undefined && (choice === 'auto' || choice === active.choice)) return active.info;
  }
  pending = (async () => {
    const order = choice === 'auto' ? AUTO_ORDER : [choice];
    for (const c of order) {
      const name = await tryBackend(c);
      if (name === undefined) continue;
      await tf.ready();
      let patched = false;
      if (name === 'wasm') {
        setWasmPatches(true);
        patched = true;
      }
      active = { choice: c, info: { name, patched } };
      return active.info;
    }
    const hint = choice === 'node' || choice === 'node-gpu'
      ? ` Install it with \`npm install @tensorflow/tfjs-${choice}\` (needs network access to download libtensorflow), or use FEDPROFILE_BACKEND=wasm.`
      : '';
    throw new FedProfileError('BACKEND', `The "${choice}" tfjs backend is not available on this machine.${hint}`, { choice });
  })();
  try {
    return await pending;
  } finally {
    pending = undefined;
  }
}

/** Name of the active tfjs backend ('wasm', 'cpu', 'tensorflow', …). */
export function currentBackend(): string {
  return tf.getBackend();
}
