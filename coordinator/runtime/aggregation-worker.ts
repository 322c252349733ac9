import { VectorWorker } from '../../shared/aggregation/vector-worker.js';

/**
 * The coordinator process's one aggregation worker thread: every federation's sums, commit steps and model
 * messages, and the digests of received transfers, run there, off the event loop that serves the sockets.
 */
export const aggregationWorker = new VectorWorker();
