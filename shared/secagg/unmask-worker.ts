import { parentPort } from 'node:worker_threads';
import { runUnmaskJob, type UnmaskJob, type UnmaskResult } from './unmask.js';

/** Worker side of `unmaskInWorker`: one job per message; the sum's buffer is transferred both ways. */
parentPort!.on('message', ({ id, job }: { id: number; job: UnmaskJob }) => {
  let result: UnmaskResult;
  try {
    result = runUnmaskJob(job);
  } catch (e) {
    result = { ok: false, reason: `unmask worker failed: ${e instanceof Error ? e.message : String(e)}` };
  }
  parentPort!.postMessage({ id, result }, result.ok ? [result.sum.buffer as ArrayBuffer] : []);
});
