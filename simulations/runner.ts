import { availableParallelism } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initialGlobalWeights } from '../shared/model/init.js';
import { evaluateNamedBaselines, itemPopularity, type NamedBaselines } from '../shared/training/baselines.js';
import { encodeMessage } from '../shared/protocol/codec.js';
import { initBackend } from '../shared/tf/backend.js';
import { buildClientData, dataItems } from './client-data.js';
import type { SimulationConfig } from './config.js';
import { InterruptedError, type RunContext } from './context.js';
import { loadSimulationData, type SimulationData } from './data-source.js';
import { partitionUnits, summariseUnits } from './partition/index.js';
import { WorkerPool } from './pool/pool.js';
import { createProgress } from './progress.js';
import { collectRunMetadata, MetricsLog, summariseStrategies, writeReport, type RunMetadata, type Summary, type WrittenReport } from './report/index.js';
import { runCentralized } from './strategies/centralized.js';
import { runFederated } from './strategies/federated.js';
import { runLocal } from './strategies/local.js';
import { profileQuality } from './profile-quality.js';

/** examples.fitItemVocab: the item vocabulary is the catalogue's size (plus PAD and MASK), rounded up to 64. */
function withFittedItemVocab(cfg: SimulationConfig, data: SimulationData): SimulationConfig {
  if (!cfg.examples.fitItemVocab || cfg.examples.itemIds !== 'catalogue') return cfg;
  const itemVocab = Math.ceil((dataItems(data).length + 2) / 64) * 64;
  return { ...cfg, model: { ...cfg.model, itemVocab } };
}

/** Every rule on the pooled test users, trained on the pooled training users: what the strategies are ranked against. */
function pooledBaselines(cfg: SimulationConfig, data: ReturnType<typeof buildClientData>, excludeHistory: boolean, popularityNegatives: boolean): NamedBaselines {
  const ids = [...data.clientIds].sort();
  const train = ids.flatMap((id) => data.clients[id]!.train);
  const test = ids.flatMap((id) => data.clients[id]!.test);
  const truth = data.interestTruth ? new Map(Object.entries(data.interestTruth).map(([k, v]) => [k, new Set(v)])) : undefined;
  const m = cfg.model;
  return evaluateNamedBaselines(train, test, {
    k: 10, seed: cfg.seed, itemVocab: m.itemVocab, categoryVocab: m.categoryVocab, numTiers: m.numTiers,
    ...(truth ? { interestTruth: truth } : {}), excludeHistory,
    ...(popularityNegatives ? { negativeWeights: itemPopularity(train, m.itemVocab) } : {}),
  });
}

export interface RunOptions {
  outDir: string;
  /** Progress bars (TTY) or log lines; off in tests. */
  progress?: boolean;
  /** Aborting stops after the results already written; summary, plots and report still get written. */
  signal?: AbortSignal;
  /** Render the SVG/PNG plots (default true); summary.json and report.md are always written. */
  plots?: boolean;
  /** Version, commit, Node.js, date and command recorded in the summary; collected from this process by default. */
  run?: RunMetadata;
}

export interface RunResult {
  summary: Summary;
  report: WrittenReport;
  interrupted: boolean;
  metricsPath: string;
}

/**
 * Runs one experiment: data -> partition -> client examples -> every listed strategy on a shared worker
 * pool -> metrics.jsonl (live), summary.json, plots and report.md in `outDir`.
 */
export async function runSimulation(requested: SimulationConfig, opts: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const run = opts.run ?? collectRunMetadata();
  const signal = opts.signal ?? new AbortController().signal;
  mkdirSync(opts.outDir, { recursive: true });
  writeFileSync(join(opts.outDir, 'config.json'), `${JSON.stringify(requested, null, 2)}\n`);
  const progress = createProgress(opts.progress ?? false);

  const data = await loadSimulationData(requested);
  const cfg = withFittedItemVocab(requested, data);
  const partition = partitionUnits(summariseUnits(data.units), {
    spec: cfg.partition, ...(cfg.clients !== undefined ? { clients: cfg.clients } : {}), seed: cfg.seed, emptyClient: cfg.emptyClient,
  });
  const clientData = buildClientData(cfg, data, partition.clients);
  const partitionReport = {
    ...partition.stats,
    emptyClients: partition.stats.emptyClients.length,
    clientsWithoutTrainingData: clientData.report.clientsWithoutTrainingData.length,
    clientsUsed: clientData.clientIds.length,
    itemIds: clientData.report.itemIds,
    examples: { train: clientData.report.train, validation: clientData.report.validation, test: clientData.report.test },
  };
  progress.note(`data: ${data.report.users} users, ${data.report.events} events -> ${clientData.clientIds.length} clients `
    + `(${clientData.report.train} train / ${clientData.report.test} test examples), category divergence ${partition.stats.categoryDivergence.toFixed(3)}`);

  const loo = cfg.examples.protocol === 'leave-one-out';
  const evaluation = {
    protocol: cfg.examples.protocol,
    excludeHistory: cfg.examples.excludeHistory ?? loo,
    negatives: (cfg.examples.popularityNegatives ?? loo) ? 'popularity' as const : 'uniform' as const,
    testUsers: clientData.report.test,
  };
  const baselines = pooledBaselines(cfg, clientData, evaluation.excludeHistory, evaluation.negatives === 'popularity');
  const tierMeasurable = Object.entries(clientData.report.tierSources).some(([source, n]) => source !== 'default' && n > 0);

  const backendInfo = await initBackend();
  const { manifest, values: initial } = await initialGlobalWeights(cfg.model, cfg.seed);
  const workers = Math.max(1, Math.min(cfg.workers ?? availableParallelism(), clientData.clientIds.length + 1));
  const pool = await WorkerPool.create(workers, {
    modelConfig: cfg.model, manifest, seed: cfg.seed,
    training: { nextItemObjective: cfg.training.nextItemObjective, causalTargetShare: cfg.training.causalTargetShare, evaluation: { excludeHistory: evaluation.excludeHistory, popularityNegatives: evaluation.negatives === 'popularity' } },
    clients: clientData.clients, ...(clientData.interestTruth ? { interestTruth: clientData.interestTruth } : {}),
  });
  const log = new MetricsLog(join(opts.outDir, 'metrics.jsonl'), tierMeasurable ? [] : ['tierAcc']);
  const ctx: RunContext = {
    cfg, pool, manifest, initial, clientIds: clientData.clientIds,
    trainSizes: new Map(clientData.clientIds.map((id) => [id, clientData.clients[id]!.train.length])),
    log, progress, signal, modelBytes: encodeMessage({ type: 'global', payload: initial }).byteLength, participation: {}, finalModels: {},
  };
  let interrupted = false;
  try {
    for (const spec of cfg.strategies) {
      if (spec.name === 'centralized') await runCentralized(ctx, spec);
      else if (spec.name === 'local') await runLocal(ctx, spec.epochs);
      else await runFederated(ctx, spec);
    }
  } catch (e) {
    if (!(e instanceof InterruptedError)) throw e;
    interrupted = true;
  } finally {
    progress.stop();
    log.close();
    await pool.close();
  }
  const testInputs = clientData.clientIds.flatMap((id) => clientData.clients[id]!.test.map((e) => e.input));
  const profile = profileQuality(cfg, data, ctx.finalModels, testInputs);
  const summary: Summary = {
    strategies: summariseStrategies(log.records, ctx.participation),
    evaluation,
    baselines: tierMeasurable ? baselines : { ...baselines, majorityTier: { tierAcc: null } },
    config: cfg,
    backend: pool.backend === backendInfo.name ? backendInfo.name : `${pool.backend} (workers), ${backendInfo.name} (main)`,
    data: data.report,
    partition: partitionReport,
    ...(interrupted ? { interrupted } : {}),
    ...(Object.keys(profile).length > 0 ? { profile } : {}),
    wallSeconds: (performance.now() - started) / 1000,
    run,
  };
  const title = `fedprofile simulation${cfg.name ? `: ${cfg.name}` : ''}`;
  const report = await writeReport(opts.outDir, summary, log.records, ctx.participation, title, opts.plots ?? true);
  return { summary, report, interrupted, metricsPath: log.path };
}
