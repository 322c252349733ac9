import { FedProfileError, type ErrorCode } from '../errors.js';
import { spawnWorker } from '../worker-host.js';
import type { WeightManifest } from '../weights/manifest.js';
import type { EvaluateResult, FitConfig, FitResult, LocalTrainer, TrainingProgress } from './types.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';

/** An error raised inside the training worker, carried back with its original code. */
export class TrainingWorkerError extends FedProfileError {
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

export interface WorkerTrainer extends LocalTrainer {
  /** Resolves once the worker has loaded the backend, the model and the examples. */
  ready: Promise<{ backend: string; counts: { train: number; validation: number; test: number } }>;
}

interface Pending {
  resolve: (m: FromWorker) => void;
  reject: (e: Error) => void;
  onProgress?: (p: TrainingProgress) => void;
}

/**
 * A LocalTrainer whose training runs in a worker_threads Worker. The global weights are copied once and the
 * copy's buffer transferred (not cloned) to the worker; the delta comes back the same way.
 * Calls are serialised by the worker's single thread; close() terminates it and rejects what is pending.
 */
export function createWorkerTrainer(init: WorkerInit): WorkerTrainer {
  if (init.examples === undefined && init.examplesFile === undefined) {
    throw new FedProfileError('BAD_CONFIG', 'createWorkerTrainer needs examples or examplesFile');
  }
  const worker = spawnWorker(import.meta.url, 'training-worker');
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let closed = false;
  let fatal: Error | undefined;
  let readyResolve!: (v: { backend: string; counts: { train: number; validation: number; test: number } }) => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<{ backend: string; counts: { train: number; validation: number; test: number } }>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  ready.catch(() => undefined); // observed through fit/evaluate; never an unhandled rejection

  const failAll = (e: Error) => {
    fatal = e;
    readyReject(e);
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };

  worker.on('message', (msg: FromWorker) => {
    if (msg.type === 'ready') { readyResolve({ backend: msg.backend, counts: msg.counts }); return; }
    if (msg.type === 'error' && msg.id === null) {
      failAll(new TrainingWorkerError(msg.code, msg.message, msg.details));
      return;
    }
    if (msg.id === null) return;
    const id = msg.id;
    const p = pending.get(id);
    if (p === undefined) return;
    if (msg.type === 'progress') { p.onProgress?.(msg.progress); return; }
    pending.delete(id);
    if (msg.type === 'error') p.reject(new TrainingWorkerError(msg.code, msg.message, msg.details));
    else p.resolve(msg);
  });
  worker.on('error', (e) => failAll(new TrainingWorkerError('INTERNAL', `training worker crashed: ${e.message}`)));
  worker.on('exit', (code) => {
    if (!closed) failAll(new TrainingWorkerError('INTERNAL', `training worker exited unexpectedly (code ${code})`));
  });
  worker.postMessage({ type: 'init', init } satisfies ToWorker);

  const call = async (
    build: (id: number) => { msg: ToWorker; transfer: ArrayBuffer[] }, onProgress?: (p: TrainingProgress) => void,
  ): Promise<FromWorker> => {
    if (closed) throw new FedProfileError('CONFLICT', 'the training worker is closed');
    await ready;
    if (fatal !== undefined) throw fatal;
    const id = nextId++;
    const { msg, transfer } = build(id);
    return new Promise<FromWorker>((resolve, reject) => {
      pending.set(id, { resolve, reject, onProgress });
      worker.postMessage(msg, transfer);
    });
  };

  const copyForTransfer = (v: Float32Array): Float32Array => {
    if (!(v instanceof Float32Array)) throw new FedProfileError('BAD_INPUT', 'global weights must be a Float32Array');
    return v.slice();
  };

  return {
    ready,
    async fit(global: Float32Array, manifest: WeightManifest, config: FitConfig, onProgress?: (p: TrainingProgress) => void): Promise<FitResult> {
      const res = await call((id) => {
        const g = copyForTransfer(global);
        return { msg: { type: 'fit', id, global: g, manifest, config }, transfer: [g.buffer as ArrayBuffer] };
      }, onProgress);
      if (res.type !== 'fitResult') throw new FedProfileError('INTERNAL', `unexpected worker reply ${res.type}`);
      return { delta: res.delta, numExamples: res.numExamples, metrics: res.metrics };
    },
    async evaluate(global: Float32Array, manifest: WeightManifest): Promise<EvaluateResult> {
      const res = await call((id) => {
        const g = copyForTransfer(global);
        return { msg: { type: 'evaluate', id, global: g, manifest }, transfer: [g.buffer as ArrayBuffer] };
      });
      if (res.type !== 'evaluateResult') throw new FedProfileError('INTERNAL', `unexpected worker reply ${res.type}`);
      return { numExamples: res.numExamples, metrics: res.metrics };
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      failAll(new FedProfileError('CONFLICT', 'the training worker was closed'));
      await worker.terminate();
    },
  };
}
