import { parentPort } from 'node:worker_threads';
import { runUnmaskJob, type UnmaskJob } from './unmask.js';

/** Worker side of `unmaskInWorker`: one job per message; the sum's buffer is transferred both ways. */
parentPort!.on('message', (job: UnmaskJob) => {
  try {
    const pairMasksRemoved = runUnmaskJob(job);
    parentPort!.postMessage({ ok: true, sum: job.sum, pairMasksRemoved }, [job.sum.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
  }
});
