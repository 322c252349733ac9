/**
 * Worker-thread entry of the local trainer. tfjs ops are synchronous, so training here keeps the client's
 * event loop (socket heartbeats, HTTP) free. All messages are typed in worker-protocol.ts.
 */
import { parentPort } from 'node:worker_threads';
import { FedProfileError } from '../errors.js';
import type { FromWorker, ToWorker } from './worker-protocol.js';
import { createTrainingSession, type TrainingSession } from './session.js';

const port = parentPort;
if (port === null) throw new Error('training-worker.ts must be started as a worker thread');

const post = (msg: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

function toErrorMessage(id: number | null, e: unknown): FromWorker {
  if (e instanceof FedProfileError) return { type: 'error', id, code: e.code, message: e.message, details: e.details };
  return { type: 'error', id, code: 'INTERNAL', message: `training worker: ${e instanceof Error ? e.message : String(e)}` };
}

let session: Promise<TrainingSession> | undefined;

port.on('message', (msg: ToWorker) => {
  void (async () => {
    const id = msg.type === 'init' ? null : msg.id;
    try {
      if (msg.type === 'init') {
        session = createTrainingSession(msg.init);
        const s = await session;
        post({ type: 'ready', backend: s.backend, counts: s.counts });
        return;
      }
      if (session === undefined) throw new FedProfileError('INTERNAL', 'training worker received work before init');
      const s = await session;
      if (msg.type === 'fit') {
        const r = s.fit(msg.global, msg.manifest, msg.config, (progress) => post({ type: 'progress', id: msg.id, progress }));
        post({ type: 'fitResult', id: msg.id, ...r }, [r.delta.buffer as ArrayBuffer]);
      } else {
        const r = s.evaluate(msg.global, msg.manifest);
        post({ type: 'evaluateResult', id: msg.id, ...r });
      }
    } catch (e) {
      post(toErrorMessage(id, e));
    }
  })();
});
