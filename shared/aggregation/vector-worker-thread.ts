/** Worker-thread entry of the aggregation worker: see vector-worker.ts. Requests are served in arrival order. */
import { parentPort } from 'node:worker_threads';
import { MeanAccumulator } from './mean.js';
import type { FromVectorWorker, ToVectorWorker } from './vector-worker.js';

const port = parentPort;
if (port === null) throw new Error('vector-worker-thread.ts must be started as a worker thread');

const sums = new Map<number, MeanAccumulator>();
/** The first failure of an accumulation, reported when its mean is asked for. */
const failures = new Map<number, string>();

port.on('message', (m: ToVectorWorker) => {
  try {
    switch (m.op) {
      case 'open':
        sums.set(m.acc, new MeanAccumulator(m.length));
        break;
      case 'add': {
        const acc = sums.get(m.acc);
        if (!acc) throw new Error(`accumulation ${m.acc} is not open`);
        // Validated on the main thread when the update arrived (see PlainServerSession).
        const values = new Float32Array(m.buffer, m.byteOffset, m.length);
        acc.begin(values, m.weight);
        acc.addRange(values, m.weight, 0, values.length);
        acc.finish(m.weight);
        break;
      }
      case 'mean': {
        const acc = sums.get(m.acc);
        sums.delete(m.acc);
        const failure = failures.get(m.acc);
        failures.delete(m.acc);
        if (failure !== undefined || !acc) {
          port.postMessage({ op: 'mean', req: m.req, error: failure ?? `accumulation ${m.acc} is not open` } satisfies FromVectorWorker);
          break;
        }
        const mean = acc.result();
        port.postMessage({ op: 'mean', req: m.req, mean, totalWeight: acc.totalWeight } satisfies FromVectorWorker, [mean.buffer as ArrayBuffer]);
        break;
      }
      case 'drop':
        sums.delete(m.acc);
        failures.delete(m.acc);
        break;
    }
  } catch (e) {
    if (m.op === 'mean') port.postMessage({ op: 'mean', req: m.req, error: e instanceof Error ? e.message : String(e) } satisfies FromVectorWorker);
    else if (m.op === 'add' && !failures.has(m.acc)) failures.set(m.acc, e instanceof Error ? e.message : String(e));
  }
});
