import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { ProfileModel } from '../model/profile-model.js';
import { createOptimizerStep } from '../model/train-step.js';
import { initBackend } from '../tf/backend.js';
import { CMD_END, SharedStep } from './allreduce.js';
import type { FromHelper, HelperData, ToHelper } from './data-parallel.js';
import { parallelStep } from './parallel-step.js';
import { trainableVariables } from './step-inputs.js';

/** A helper engine of a DataParallelGroup: replays the caller's steps on its shard of every batch. */
const port = parentPort!;
const data = workerData as HelperData;

function run(msg: Extract<ToHelper, { type: 'begin' }>, model: ProfileModel): void {
  const shared = new SharedStep(msg.buffer, { participants: msg.participants, gradSize: msg.gradSize, maxBatch: msg.maxBatch }, msg.rank);
  const o = msg.options;
  const optimizer = createOptimizerStep({ learningRate: o.learningRate, optimizer: o.optimizer, fusedAdam: o.fusedAdam });
  try {
    try {
      const tensors = msg.weights.map((w, i) => tf.tensor(w, model.weights[i]!.variable.shape, 'float32'));
      model.setWeights(tensors);
      tf.dispose(tensors);
    } catch (e) {
      shared.abort(e instanceof Error ? e.message : String(e));
      return;
    }
    const vars = trainableVariables(model, o);
    shared.barrier();
    for (;;) {
      const next = shared.receive();
      if (next.cmd === CMD_END) return;
      const batch = next.batch.map((i) => msg.examples[i]!);
      parallelStep(shared, model, vars, optimizer, batch, o, `${o.seed}/mask/${next.step}`, next.dropoutSeed);
    }
  } catch {
    // parallelStep and the barrier have already told the other participants (ParallelAbort or abort()).
  } finally {
    optimizer.dispose();
  }
}

async function main(): Promise<void> {
  let model: ProfileModel;
  try {
    const info = await initBackend(data.backend);
    model = ProfileModel.create(data.modelConfig, 0);
    port.postMessage({ type: 'ready', backend: info.name } satisfies FromHelper);
  } catch (e) {
    port.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) } satisfies FromHelper);
    return;
  }
  port.on('message', (msg: ToHelper) => { if (msg.type === 'begin') run(msg, model); });
}

void main();
