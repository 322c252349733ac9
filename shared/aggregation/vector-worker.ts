import type { Worker } from 'node:worker_threads';
import { FedProfileError, type ErrorCode } from '../errors.js';
import { spawnWorker } from '../worker-host.js';
import { ownsItsBuffer } from '../protocol/message-buffers.js';
import type { WeightManifest } from '../weights/manifest.js';
import type { PreparedMessage } from '../protocol/transport.js';
import type { ServerStepJob, ServerStepOutput } from './server-step.js';

export type ToVectorWorker =
  | { op: 'open'; acc: number; length: number }
  /** The update is `length` floats at `byteOffset` of `buffer` (a whole message buffer travels without a copy). */
  | { op: 'add'; acc: number; buffer: ArrayBuffer; byteOffset: number; length: number; weight: number }
  | { op: 'mean'; acc: number; req: number }
  | { op: 'drop'; acc: number }
  | { op: 'commit-step'; req: number; job: ServerStepJob; manifest: WeightManifest; maxModelAbs: number }
  | { op: 'prepare-model'; req: number; model: ModelToPrepare }
  | { op: 'sha256'; req: number; bytes: Uint8Array };

/** A global model version to turn into the wire message clients download (see VectorWorker.prepareModel). */
export interface ModelToPrepare {
  hash: string;
  manifest: WeightManifest;
  values: Float32Array;
  /** A lossy download encoding (f16, q8): the message carries the encoded vector instead of the floats. */
  codec?: 'f16' | 'q8';
}

/** What a round commit needs besides the step: the aggregate checked, hashed and encoded for the checkpoint. */
export interface CommitStepResult {
  step: ServerStepOutput;
  /** weightsHash(manifest, step.weights): the new model version's content address. */
  hash: string;
  /** SHA-256 (hex) of the weights as little-endian float32 bytes (weights.bin). */
  weightsSha256: string;
  /** optimizer.bin and its SHA-256; null when the optimiser keeps no moments. */
  optimizer: { bytes: Uint8Array; sha256: string } | null;
}

export type FromVectorWorker =
  | { op: 'mean'; req: number; mean: Float32Array; totalWeight: number }
  | ({ op: 'commit-step'; req: number } & CommitStepResult)
  | { op: 'prepare-model'; req: number; prepared: PreparedMessage }
  | { op: 'sha256'; req: number; sha256: string; bytes: Uint8Array }
  | { op: 'failed'; req: number; error: string; code?: ErrorCode; details?: Record<string, unknown> };

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
 * One worker thread for the coordinator's vector work, so no vector-sized pass of a round runs on the event
 * loop that serves sockets and heartbeats: summing the updates, and at commit the server step, the
 * aggregate's bounds check, its content hash and weights.bin's SHA-256, and optimizer.bin's encoding and
 * SHA-256. Vectors travel as transferred buffers where the sender is done with them; requests are served
 * in order, so results are as deterministic as in-thread (and bit-identical to it: the same code runs).
 */
export class VectorWorker {
  private worker: Worker | undefined;
  private nextAcc = 1;
  private nextReq = 1;
  private readonly waiting = new Map<number, { resolve: (m: FromVectorWorker) => void; reject: (e: Error) => void }>();

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
      mean: async () => {
        const m = await this.request({ op: 'mean', acc, req: 0 });
        if (m.op !== 'mean') throw new FedProfileError('INTERNAL', `aggregation worker answered ${m.op} to a mean request`);
        return m.mean;
      },
      drop: () => w.postMessage({ op: 'drop', acc } satisfies ToVectorWorker),
    };
  }

  /**
   * The commit's vector work on the worker: the server step, checkAggregate (INTEGRITY when the aggregate
   * is out of bounds), the content hash, weights.bin's SHA-256 and optimizer.bin. The job's global model
   * and optimiser state are copied (they stay valid here if the round fails); its delta is transferred
   * when it owns its buffer, so the caller must not use it afterwards.
   */
  async commitStep(job: ServerStepJob, manifest: WeightManifest, maxModelAbs: number): Promise<CommitStepResult> {
    const d = job.delta;
    const transfer = d.buffer instanceof ArrayBuffer && d.byteOffset === 0 && d.byteLength === d.buffer.byteLength ? [d.buffer] : [];
    const m = await this.request({ op: 'commit-step', req: 0, job, manifest, maxModelAbs }, transfer);
    if (m.op !== 'commit-step') throw new FedProfileError('INTERNAL', `aggregation worker answered ${m.op} to a commit step`);
    return { step: m.step, hash: m.hash, weightsSha256: m.weightsSha256, optimizer: m.optimizer };
  }

  /**
   * The model message for a version, encoded, chunked and SHA-256'd on the worker (≈ 100 ms of one pass
   * at 10M parameters that would otherwise hold the event loop at the first download of each round). The
   * values are copied to the worker; the message bytes are transferred back, frames viewing them.
   */
  async prepareModel(model: ModelToPrepare): Promise<PreparedMessage> {
    const m = await this.request({ op: 'prepare-model', req: 0, model });
    if (m.op !== 'prepare-model') throw new FedProfileError('INTERNAL', `aggregation worker answered ${m.op} to a model message`);
    return m.prepared;
  }

  /**
   * SHA-256 (hex) of a received message, on the worker. The bytes travel there and back by transfer when
   * they own their buffer (a reassembled message does), so the caller must use the returned view.
   */
  async sha256(bytes: Uint8Array): Promise<{ sha256: string; bytes: Uint8Array }> {
    const whole = bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    const b = whole ? bytes : bytes.slice();
    const m = await this.request({ op: 'sha256', req: 0, bytes: b }, [b.buffer as ArrayBuffer]);
    if (m.op !== 'sha256') throw new FedProfileError('INTERNAL', `aggregation worker answered ${m.op} to a digest`);
    return { sha256: m.sha256, bytes: m.bytes };
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.failAll(new FedProfileError('CONFLICT', 'the aggregation worker was closed'));
    if (w) await w.terminate();
  }

  private request(message: Extract<ToVectorWorker, { req: number }>, transfer: ArrayBuffer[] = []): Promise<FromVectorWorker> {
    const w = this.start();
    const req = this.nextReq++;
    return new Promise((resolve, reject) => {
      this.waiting.set(req, { resolve, reject });
      w.postMessage({ ...message, req }, transfer);
    });
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
      if (m.op === 'failed') p.reject(new FedProfileError(m.code ?? 'INTERNAL', m.code ? m.error : `aggregation worker: ${m.error}`, m.details));
      else p.resolve(m);
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
