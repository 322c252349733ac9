import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { UserExample } from '../data/encoded.js';
import { ConfigError, FedProfileError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import type { ProfileModel } from '../model/profile-model.js';
import type { BackendChoice } from '../tf/backend.js';
import { spawnWorker } from '../worker-host.js';
import { SharedStep } from './allreduce.js';
import type { ObjectiveOptions } from './step-inputs.js';

/** What a helper needs to replay the caller's optimiser on its replica. */
export interface HelperRunOptions extends ObjectiveOptions {
  learningRate: number;
  optimizer: 'adam' | 'sgd';
  fusedAdam?: boolean;
  batchSize: number;
  seed: number;
}

export type ToHelper = {
  type: 'begin'; buffer: SharedArrayBuffer; participants: number; gradSize: number; maxBatch: number; rank: number;
  weights: Float32Array[]; options: HelperRunOptions; examples: readonly UserExample[];
};
export type FromHelper = { type: 'ready'; backend: string } | { type: 'error'; message: string };
export interface HelperData { modelConfig: ModelConfig; backend: BackendChoice }

/**
 * Engines a client's local training should use: every core. The calling thread is one engine, so that is
 * cores − 1 helper workers. Simulations run one single-engine client per pool worker (the pool already holds
 * one worker per core) and never start a group, so the two never compete for cores.
 */
export function defaultTrainThreads(): number {
  return Math.max(1, os.availableParallelism());
}

/**
 * Data-parallel training inside one client: `threads − 1` helper worker threads, each with its own tfjs
 * engine and a replica of the model. trainLocal (given the group) splits each batch across the calling thread
 * and the helpers, all-reduces the gradients through a SharedArrayBuffer in rank order and applies the same
 * update everywhere, so for a fixed thread count the result is bit-reproducible. tfjs-wasm has no threads
 * inside one engine in Node; this is how a many-core node uses its cores.
 */
export class DataParallelGroup {
  private closed = false;
  private broken: Error | undefined;

  private constructor(readonly threads: number, readonly modelConfig: ModelConfig, readonly backend: string, private readonly helpers: Worker[]) {
    for (const w of helpers) {
      w.on('error', (e) => { this.broken = e; });
      w.on('exit', () => { if (!this.closed) this.broken ??= new Error('a helper thread exited'); });
    }
  }

  /** Starts the helpers on the backend the calling thread runs (they must do the same arithmetic). */
  static async start(opts: { threads?: number; modelConfig: ModelConfig }): Promise<DataParallelGroup> {
    const threads = opts.threads ?? defaultTrainThreads();
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
      throw new ConfigError(`training: threads must be an integer in [1, 256] (got ${threads})`);
    }
    const backend = tf.getBackend();
    const choice: BackendChoice = backend === 'tensorflow' ? 'node' : backend === 'wasm' || backend === 'cpu' ? backend : 'auto';
    const helpers: Worker[] = [];
    try {
      for (let i = 1; i < threads; i++) {
        helpers.push(spawnWorker(import.meta.url, 'data-parallel-worker', { workerData: { modelConfig: opts.modelConfig, backend: choice } satisfies HelperData }));
      }
      await Promise.all(helpers.map((w, i) => new Promise<void>((resolve, reject) => {
        w.once('message', (m: FromHelper) => {
          if (m.type === 'ready' && m.backend === backend) resolve();
          else reject(new FedProfileError('BACKEND', m.type === 'ready'
            ? `training helper ${i + 1} runs backend ${m.backend}, the caller ${backend}: their updates would differ`
            : `training helper ${i + 1} failed to start: ${m.message}`));
        });
        w.once('error', reject);
      })));
    } catch (e) {
      await Promise.all(helpers.map((w) => w.terminate()));
      throw e;
    }
    return new DataParallelGroup(threads, opts.modelConfig, backend, helpers);
  }

  /**
   * Starts one trainLocal run on the helpers: they receive the current weights, the options and the
   * examples, and wait for the caller's steps. Returns the shared step of rank 0 (the caller).
   */
  begin(model: ProfileModel, vars: readonly tf.Variable[], options: HelperRunOptions, examples: readonly UserExample[]): SharedStep {
    if (this.closed) throw new FedProfileError('CONFLICT', 'the data-parallel group is closed');
    if (this.broken !== undefined) throw new FedProfileError('INTERNAL', `the data-parallel group is broken (${this.broken.message}); close it and start a new one`);
    if (JSON.stringify(model.config) !== JSON.stringify(this.modelConfig)) {
      throw new ConfigError('training: the model config differs from the config the data-parallel group was started with');
    }
    if (tf.getBackend() !== this.backend) throw new FedProfileError('BACKEND', `the group runs ${this.backend}, the caller now ${tf.getBackend()}`);
    const layout = { participants: this.threads, gradSize: vars.reduce((n, v) => n + v.size, 0), maxBatch: options.batchSize };
    const shared = SharedStep.create(layout);
    const weights = model.weights.map((w) => Float32Array.from(w.variable.dataSync() as Float32Array));
    const plain: HelperRunOptions = {
      phase: options.phase, maskProb: options.maskProb, clozeWeightInFinetune: options.clozeWeightInFinetune, trainOnly: options.trainOnly, sampledNegatives: options.sampledNegatives,
      nextItemObjective: options.nextItemObjective, causalTargetShare: options.causalTargetShare,
      learningRate: options.learningRate, optimizer: options.optimizer, fusedAdam: options.fusedAdam, batchSize: options.batchSize, seed: options.seed,
    };
    this.helpers.forEach((w, i) => w.postMessage({ type: 'begin', buffer: shared.buffer, ...layout, rank: i + 1, weights, options: plain, examples } satisfies ToHelper));
    shared.barrier(120_000);
    return shared;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.helpers.map((w) => w.terminate()));
  }
}
