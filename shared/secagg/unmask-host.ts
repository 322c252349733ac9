import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FedProfileError } from '../errors.js';
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
 * Runs one unmask job on a fresh worker thread and ends the worker. The sum's buffer is transferred (the
 * caller's array is detached meanwhile) and comes back as the resolved sum; the event loop stays free.
 */
export function runUnmaskJobInWorker(job: UnmaskJob): Promise<UnmaskResult> {
  return new Promise((resolve, reject) => {
    const worker = spawnUnmaskWorker();
    const finish = (f: () => void): void => { void worker.terminate(); f(); };
    worker.once('message', (m: UnmaskResult) => finish(() => resolve(m)));
    worker.once('error', (e) => finish(() => reject(new FedProfileError('INTERNAL', `SecAgg+ unmask worker failed: ${e.message}`))));
    worker.once('exit', (code) => { if (code !== 0) reject(new FedProfileError('INTERNAL', `SecAgg+ unmask worker exited with code ${code}`)); });
    // Only the sum is transferred; the shares are copied, so the caller wipes its own copies.
    worker.postMessage(job, [job.sum.buffer as ArrayBuffer]);
  });
}
