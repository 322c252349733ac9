/** Worker-thread entry of the simulation pool: see client-work.ts for what a task does. */
import { parentPort } from 'node:worker_threads';
import { FedProfileError } from '../../shared/errors.js';
import { initBackend } from '../../shared/tf/backend.js';
import { createClientWork } from './client-work.js';
import type { FromPoolWorker, PoolResult, PoolTask, ToPoolWorker } from './protocol.js';

const port = parentPort;
if (port === null) throw new Error('pool-worker.ts must be started as a worker thread');
const post = (msg: FromPoolWorker, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

let work: ((task: PoolTask) => PoolResult) | undefined;

port.on('message', (msg: ToPoolWorker) => {
  void (async () => {
    const id = msg.type === 'init' ? null : msg.id;
    try {
      if (msg.type === 'init') {
        const info = await initBackend(msg.init.backend);
        work = createClientWork(msg.init);
        post({ type: 'ready', backend: info.name });
        return;
      }
      if (!work) throw new FedProfileError('INTERNAL', 'pool worker received a task before init');
      const result = work(msg.task);
      post({ type: 'result', id: msg.id, result }, result.kind === 'fit' ? [result.delta.buffer as ArrayBuffer] : []);
    } catch (e) {
      const code = e instanceof FedProfileError ? e.code : 'INTERNAL';
      post({ type: 'error', id, code, message: e instanceof Error ? e.message : String(e) });
    }
  })();
});
