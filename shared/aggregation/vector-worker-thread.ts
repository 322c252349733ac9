/** Worker-thread entry of the aggregation worker: see vector-worker.ts. Requests are served in arrival order. */
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { FedProfileError } from '../errors.js';
import { weightsHash } from '../weights/hash.js';
import { encodeVector } from '../weights/codec.js';
import { prepareMessage } from '../protocol/transport.js';
import { float32ToLittleEndianBytes } from '../weights/bytes.js';
import { MeanAccumulator } from './mean.js';
import { encodeServerOptimizerState } from './server-optimizers.js';
import { runServerStep } from './server-step.js';
import { checkAggregate } from './update-bounds.js';
import type { FromVectorWorker, ToVectorWorker } from './vector-worker.js';

const port = parentPort;
if (port === null) throw new Error('vector-worker-thread.ts must be started as a worker thread');

const sums = new Map<number, MeanAccumulator>();
/** The first failure of an accumulation, reported when its mean is asked for. */
const failures = new Map<number, string>();

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function fail(req: number, e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  port!.postMessage((e instanceof FedProfileError
    ? { op: 'failed', req, error: message, code: e.code, ...(e.details ? { details: e.details } : {}) }
    : { op: 'failed', req, error: message }) satisfies FromVectorWorker);
}

async function commitStep(m: Extract<ToVectorWorker, { op: 'commit-step' }>): Promise<void> {
  const step = await runServerStep(m.job, false);
  checkAggregate(step.weights, m.maxModelAbs);
  // One chunk: a worker has no event loop to keep free.
  const hash = await weightsHash(m.manifest, step.weights, Math.max(1, step.weights.byteLength));
  const weightsSha256 = sha256(float32ToLittleEndianBytes(step.weights));
  const hasMoments = step.state.m !== null || step.state.v !== null;
  const bytes = hasMoments ? encodeServerOptimizerState(step.state) : null;
  const optimizer = bytes ? { bytes, sha256: sha256(bytes) } : null;
  const transfer = [step.weights, step.state.m, step.state.v, bytes].flatMap((a) => (a ? [a.buffer as ArrayBuffer] : []));
  port!.postMessage({ op: 'commit-step', req: m.req, step, hash, weightsSha256, optimizer } satisfies FromVectorWorker, transfer);
}

function prepareModel(m: Extract<ToVectorWorker, { op: 'prepare-model' }>): void {
  const { hash, manifest, values, codec } = m.model;
  const prepared = prepareMessage(codec
    ? { type: 'model-encoded', hash, manifest, encoded: encodeVector(values, codec) }
    : { type: 'model', hash, manifest, weights: values });
  port!.postMessage({ op: 'prepare-model', req: m.req, prepared } satisfies FromVectorWorker, [prepared.bytes.buffer as ArrayBuffer]);
}

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
          port.postMessage({ op: 'failed', req: m.req, error: failure ?? `accumulation ${m.acc} is not open` } satisfies FromVectorWorker);
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
      case 'commit-step':
        commitStep(m).catch((e: unknown) => fail(m.req, e));
        break;
      case 'prepare-model':
        prepareModel(m);
        break;
      case 'sha256':
        port.postMessage({ op: 'sha256', req: m.req, sha256: sha256(m.bytes), bytes: m.bytes } satisfies FromVectorWorker, [m.bytes.buffer as ArrayBuffer]);
        break;
    }
  } catch (e) {
    if (m.op === 'mean' || m.op === 'commit-step' || m.op === 'prepare-model' || m.op === 'sha256') fail(m.req, e);
    else if (m.op === 'add' && !failures.has(m.acc)) failures.set(m.acc, e instanceof Error ? e.message : String(e));
  }
});
