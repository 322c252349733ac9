import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SimulationConfigInput } from '../../simulations/config.js';

/** A world and model small enough that a whole experiment runs in seconds on two cores. */
export const tinyExperiment: SimulationConfigInput = {
  name: 'tiny',
  seed: 5,
  data: { source: 'synthetic', users: 45, merchants: 3, categories: 6, itemsPerCategory: 15, days: 21 },
  examples: { maxPrefixesPerUser: 2 },
  partition: { type: 'natural' },
  model: { itemVocab: 128, categoryVocab: 8, textVocab: 32, textTokens: 2, maxLen: 16, dModel: 8, heads: 2, layers: 1, ffDim: 16, dropout: 0.1 },
  strategies: [{ name: 'centralized' }, { name: 'local' }, { name: 'fedavg' }],
  training: { pretrainRounds: 1, rounds: 1, localEpochs: 1, batchSize: 16, learningRate: 0.01 },
  workers: 2,
};

export type MetricLine = Record<string, unknown>;

export const metricLines = (dir: string): MetricLine[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as MetricLine);
