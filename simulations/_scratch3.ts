import { parseSimulationConfig } from './config.js';
import { runSimulation } from './runner.js';
const cfg = parseSimulationConfig({
  seed: 5, data: { source: 'synthetic', users: 45, merchants: 3, categories: 6, itemsPerCategory: 15, days: 21 },
  examples: { maxPrefixesPerUser: 2 }, partition: { type: 'iid' }, clients: 3, dropout: 0.3,
  model: { itemVocab: 128, categoryVocab: 8, textVocab: 32, textTokens: 2, maxLen: 16, dModel: 8, heads: 2, layers: 1, ffDim: 16, dropout: 0.1 },
  strategies: [{ name: 'fedprox', mu: 0.1 }],
  training: { rounds: 2, localEpochs: 1, batchSize: 16, learningRate: 0.01, clientsPerRound: 2 }, workers: 2,
});
const t = performance.now();
const r = await runSimulation(cfg, { outDir: '/tmp/x1', progress: true });
console.log('total', ((performance.now() - t) / 1000).toFixed(2), r.summary.wallSeconds);
