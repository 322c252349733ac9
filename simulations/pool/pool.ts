import type { Worker } from 'node:worker_threads';
import { FedProfileError } from '../../shared/errors.js';
import { spawnWorker } from '../../shared/worker-host.js';
import type { FromPoolWorker, PoolInit, PoolResult, PoolTask, ToPoolWorker } from './protocol.js';

interface Slot {
  worker: Worker;
  busy: boolean;
}

interface Job {
  task: PoolTask;
  resolve: (r: PoolResult) => void;
  reject: (e: Error) => void;
}

/**
 * A fixed set of worker threads (one per core by default) that train and evaluate virtual clients. Tasks
 * queue and go to the first idle worker; results are deterministic whatever the assignment, so the caller
 * only has to combine them in a fixed order.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private readonly running = new Map<number, { slot: Slot; job: Job }>();
  private nextId = 1;
  private closed = false;
  private failure: Error | undefined;

  private constructor(readonly backend: string) {}

  static async create(size: number, init: PoolInit): Promise<WorkerPool> {
    const workers = Array.from({ length: size }, () => spawnWorker(import.meta.url, 'pool-worker'));
    let backends: string[];
    try {
      backends = await Promise.all(workers.map((w) => new Promise<string>((resolve, reject) => {
        const onMsg = (m: FromPoolWorker) => {
          if (m.type === 'ready') { w.off('message', onMsg); resolve(m.backend); }
          if (m.type === 'error') { w.off('message', onMsg); reject(new FedProfileError(m.code, `pool worker: ${m.message}`)); }
        };
        w.on('message', onMsg);
        w.once('error', reject);
        w.postMessage({ type: 'init', init } satisfies ToPoolWorker);
      })));
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    const pool = new WorkerPool(backends[0]!);
    for (const worker of workers) {
      const slot: Slot = { worker, busy: false };
      worker.on('message', (m: FromPoolWorker) => pool.onMessage(slot, m));
      worker.on('error', (e) => pool.fail(new FedProfileError('INTERNAL', `pool worker crashed: ${e.message}`)));
      worker.on('exit', (code) => { if (!pool.closed) pool.fail(new FedProfileError('INTERNAL', `pool worker exited (code ${code})`)); });
      pool.slots.push(slot);
    }
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  run(task: PoolTask): Promise<PoolResult> {
    if (this.closed) return Promise.reject(new FedProfileError('CONFLICT', 'the worker pool is closed'));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ task, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new FedProfileError('CONFLICT', 'the worker pool was closed');
    for (const j of this.queue.splice(0)) j.reject(err);
    for (const { job } of this.running.values()) job.reject(err);
    this.running.clear();
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.busy || this.queue.length === 0) continue;
      const job = this.queue.shift()!;
      const id = this.nextId++;
      slot.busy = true;
      this.running.set(id, { slot, job });
      // The global vector is shared by many tasks of a round, so each task gets its own copy to transfer.
      const global = job.task.global.slice();
      slot.worker.postMessage({ type: 'task', id, task: { ...job.task, global } } satisfies ToPoolWorker, [global.buffer as ArrayBuffer]);
    }
  }

  private onMessage(slot: Slot, m: FromPoolWorker): void {
    if (m.type === 'ready' || m.id === null) {
      if (m.type === 'error') this.fail(new FedProfileError(m.code, `pool worker: ${m.message}`));
      return;
    }
    const r = this.running.get(m.id);
    if (!r) return;
    this.running.delete(m.id);
    slot.busy = false;
    if (m.type === 'error') r.job.reject(new FedProfileError(m.code, m.message));
    else r.job.resolve(m.result);
    this.dispatch();
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const j of this.queue.splice(0)) j.reject(e);
    for (const { job } of this.running.values()) job.reject(e);
    this.running.clear();
  }
}
