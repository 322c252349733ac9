import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { UnmaskJob, UnmaskResult } from './unmask.js';

/**
 * Starts the unmask worker. From a build the compiled unmask-worker.js runs directly; from TypeScript
 * sources a tiny ESM bootstrap registers tsx's loader inside the worker first (as the training worker does).
 */
function spawnUnmaskWorker(): Worker {
  const here = new URL(import.meta.url);
  if (!here.pathname.endsWith('.ts')) return new Worker(new URL('./unmask-worker.js', import.meta.url));
  const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsxApi = pathToFileURL(join(tsxRoot, 'dist/esm/api/index.mjs')).href;
  const entry = new URL('./unmask-worker.ts', import.meta.url).href;
  const bootstrap = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(entry)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`));
}

/**
 * One worker per process, started on first use and kept (unref'd, so it never holds the process open):
 * starting it costs ~0.3 s of CPU under tsx, which a coordinator then pays once rather than every round.
 * Jobs run one after another in the order given.
 */
let shared: { worker: Worker; nextId: number; pending: Map<number, { resolve: (r: UnmaskResult) => void; reject: (e: Error) => void }> } | undefined;

function sharedWorker(): NonNullable<typeof shared> {
  if (shared) return shared;
  const worker = spawnUnmaskWorker();
  const state = { worker, nextId: 0, pending: new Map<number, { resolve: (r: UnmaskResult) => void; reject: (e: Error) => void }>() };
  const fail = (e: Error): void => {
    if (shared === state) shared = undefined;
    for (const p of state.pending.values()) p.reject(e);
    state.pending.clear();
  };
  worker.on('message', (m: { id: number; result: UnmaskResult }) => {
    const p = state.pending.get(m.id);
    state.pending.delete(m.id);
    p?.resolve(m.result);
    if (state.pending.size === 0) worker.unref();
  });
  worker.on('error', (e) => fail(e));
  worker.on('exit', (code) => fail(new Error(`the unmask worker exited with code ${code}`)));
  worker.unref();
  shared = state;
  return state;
}

/** Starts the worker ahead of the first round (a coordinator may call it at start-up). */
export function warmUnmaskWorker(): Promise<void> {
  return runUnmaskJobInWorker({ federationId: 'warm-up', round: 0, threshold: 2, shareLength: 33, sum: new Uint32Array(1), seeds: [], dropped: [] }).then(() => undefined);
}

/** Stops the worker (tests, shutdown); the next job starts a new one. */
export async function closeUnmaskWorker(): Promise<void> {
  const s = shared;
  shared = undefined;
  if (s) await s.worker.terminate();
}

/**
 * Runs one unmask job on the worker thread. The sum's buffer is transferred (the caller's array is detached
 * meanwhile) and comes back in the result; the event loop stays free while the worker computes.
 */
export function runUnmaskJobInWorker(job: UnmaskJob): Promise<UnmaskResult> {
  const s = sharedWorker();
  const id = s.nextId++;
  return new Promise((resolve, reject) => {
    s.pending.set(id, { resolve, reject });
    s.worker.ref();
    // Only the sum is transferred; the shares are copied, so the caller wipes its own copies.
    s.worker.postMessage({ id, job }, [job.sum.buffer as ArrayBuffer]);
  });
}
