import type { Worker } from 'node:worker_threads';
import { FedProfileError } from '../errors.js';
import { spawnWorker } from '../worker-host.js';

export type ToVectorWorker =
  | { op: 'open'; acc: number; length: number }
  | { op: 'add'; acc: number; values: Float32Array; weight: number }
  | { op: 'mean'; acc: number; req: number }
  | { op: 'drop'; acc: number };

export type FromVectorWorker =
  | { op: 'mean'; req: number; mean: Float32Array; totalWeight: number }
  | { op: 'mean'; req: number; error: string };

/** A weighted sum kept on the aggregation worker; see PlainSessionOptions.accumulator. */
export interface RemoteAccumulator {
  /** Hands the update to the worker (its buffer is transferred when the array owns all of it). */
  add(values: Float32Array, weight: number): void;
  /** Σ wᵢ·xᵢ / Σ wᵢ as float32, bit for bit what MeanAccumulator gives for the same updates in the same order. */
  mean(): Promise<Float32Array>;
  /** Frees the sum without computing it (aborted round). */
  drop(): void;
}

/**
 * One worker thread for the coordinator's vector work, so summing 50 updates of 1M parameters never runs on
 * the event loop that serves sockets and heartbeats. Updates travel as transferred buffers (no copy when
 * the array owns its buffer); requests are served in order, so sums are as deterministic as in-thread.
 */
export class VectorWorker {
  private worker: Worker | undefined;
  private nextAcc = 1;
  private nextReq = 1;
  private readonly waiting = new Map<number, { resolve: (m: Float32Array) => void; reject: (e: Error) => void }>();

  accumulator(length: number): RemoteAccumulator {
    const w = this.start();
    const acc = this.nextAcc++;
    w.postMessage({ op: 'open', acc, length } satisfies ToVectorWorker);
    return {
      add: (values, weight) => {
        const owned = values.byteOffset === 0 && values.byteLength === values.buffer.byteLength;
        const v = owned ? values : values.slice();
        w.postMessage({ op: 'add', acc, values: v, weight } satisfies ToVectorWorker, [v.buffer as ArrayBuffer]);
      },
      mean: () => new Promise<Float32Array>((resolve, reject) => {
        const req = this.nextReq++;
        this.waiting.set(req, { resolve, reject });
        w.postMessage({ op: 'mean', acc, req } satisfies ToVectorWorker);
      }),
      drop: () => w.postMessage({ op: 'drop', acc } satisfies ToVectorWorker),
    };
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.failAll(new FedProfileError('CONFLICT', 'the aggregation worker was closed'));
    if (w) await w.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = spawnWorker(import.meta.url, 'vector-worker-thread');
    // It only ever works for requests that are awaited: it must not keep a finished process alive.
    w.unref();
    w.on('message', (m: FromVectorWorker) => {
      const p = this.waiting.get(m.req);
      if (!p) return;
      this.waiting.delete(m.req);
      if ('error' in m) p.reject(new FedProfileError('INTERNAL', `aggregation worker: ${m.error}`));
      else p.resolve(m.mean);
    });
    w.on('error', (e) => { this.worker = undefined; this.failAll(new FedProfileError('INTERNAL', `aggregation worker crashed: ${e.message}`)); });
    w.on('exit', () => { if (this.worker === w) { this.worker = undefined; this.failAll(new FedProfileError('INTERNAL', 'aggregation worker exited')); } });
    this.worker = w;
    return w;
  }

  private failAll(e: Error): void {
    for (const p of this.waiting.values()) p.reject(e);
    this.waiting.clear();
  }
}
