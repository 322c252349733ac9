import type { Worker } from 'node:worker_threads';
import { FedProfileError } from '../errors.js';
import { spawnWorker } from '../worker-host.js';
import { ownsItsBuffer } from '../protocol/message-buffers.js';

export type ToVectorWorker =
  | { op: 'open'; acc: number; length: number }
  /** The update is `length` floats at `byteOffset` of `buffer` (a whole message buffer travels without a copy). */
  | { op: 'add'; acc: number; buffer: ArrayBuffer; byteOffset: number; length: number; weight: number }
  | { op: 'mean'; acc: number; req: number }
  | { op: 'drop'; acc: number };

export type FromVectorWorker =
  | { op: 'mean'; req: number; mean: Float32Array; totalWeight: number }
  | { op: 'mean'; req: number; error: string };

/** A weighted sum kept on the aggregation worker; see PlainSessionOptions.accumulator. */
export interface RemoteAccumulator {
  /**
   * Hands the update to the worker. Its buffer is transferred (detached here, no copy) when the array owns
   * all of it or the buffer backs only the received message it came in (see ownsItsBuffer); otherwise the
   * viewed part is copied.
   */
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
        const v = ownsItsBuffer(values) ? values : values.slice();
        const buffer = v.buffer as ArrayBuffer;
        w.postMessage({ op: 'add', acc, buffer, byteOffset: v.byteOffset, length: v.length, weight } satisfies ToVectorWorker, [buffer]);
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
