import { parentPort } from 'node:worker_threads';
import { runUnmaskJob, type UnmaskJob } from './unmask.js';

/** Worker side of `unmaskInWorker`: one job per message; the sum's buffer is transferred both ways. */
parentPort!.on('message', (job: UnmaskJob) => {
  try {
    const r = runUnmaskJob(job);
    parentPort!.postMessage(r, r.ok ? [r.sum.buffer as ArrayBuffer] : []);
  } catch (e) {
    parentPort!.postMessage({ ok: false, reason: `unmask worker failed: ${e instanceof Error ? e.message : String(e)}` });
  }
});
