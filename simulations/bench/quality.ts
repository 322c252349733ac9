/**
 * Profile quality against the simple rules, through the real simulator (`runSimulation`, the path
 * `fedprofile simulate` runs): centralised, FedAvg (SecAgg on) and local-only on the same users, beside
 * popularity, first-order Markov and the head rules scored on the same test examples.
 *
 *   npm run bench:quality -- --data-path DIR [--config FILE] [--synthetic] [--rounds N] [--out FILE]
 *
 * The MovieLens-layout run uses the leave-one-out protocol (simulations/experiments/movielens-loo.json);
 * --synthetic adds synthetic-noniid.json (time-window protocol), where every head has a rule to beat.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { isFedProfileError } from '../../shared/errors.js';
import { loadSimulationConfig, type SimulationConfig } from '../config.js';
import { runSimulation } from '../runner.js';
import type { Summary } from '../report/index.js';

const round4 = (x: number | null | undefined): number | null => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 1e4) / 1e4);

interface StrategyQuality {
  ndcg10: number | null;
  hr10: number | null;
  /** The learned scorer alone and the transition statistics alone (null when the model fuses nothing). */
  ndcg10Model: number | null;
  ndcg10Statistics: number | null;
  auc: number | null;
  interestP3: number | null;
  tierAcc: number | null;
  seconds: number;
}

interface QualityRun {
  experiment: string;
  protocol: NonNullable<Summary['evaluation']>;
  clients: number;
  rounds: number;
  secureAggregation: boolean;
  strategies: Record<string, StrategyQuality>;
  baselines: NonNullable<Summary['baselines']>;
  /** fedavg / centralized NDCG@10. */
  ratio: number | null;
  /** centralized NDCG@10 over each next-item rule's. */
  centralizedOver: { markov: number | null; popularity: number | null };
  itemIds: unknown;
  wallSeconds: number;
}

async function runQuality(cfg: SimulationConfig): Promise<QualityRun> {
  const dir = mkdtempSync(join(tmpdir(), 'fp-bench-quality-'));
  try {
    const r = await runSimulation(cfg, { outDir: dir, plots: false, progress: process.stderr.isTTY });
    const s = r.summary;
    const strategies: Record<string, StrategyQuality> = {};
    for (const [name, v] of Object.entries(s.strategies)) {
      strategies[name] = {
        ndcg10: round4(v.ndcg10), hr10: round4(v.hr10), ndcg10Model: round4(v.ndcg10Model), ndcg10Statistics: round4(v.ndcg10Statistics),
        auc: round4(v.auc), interestP3: round4(v.interestP3), tierAcc: round4(v.tierAcc), seconds: Math.round(v.seconds),
      };
    }
    const central = s.strategies['centralized']?.ndcg10;
    const fed = s.strategies['fedavg']?.ndcg10;
    const over = (rule: string): number | null => {
      const b = s.baselines?.[rule]?.['ndcg10'];
      return central !== undefined && typeof b === 'number' && b > 0 ? round4(central / b) : null;
    };
    const partition = s.partition as { itemIds?: unknown; clientsUsed?: number } | undefined;
    return {
      experiment: cfg.name ?? 'experiment',
      protocol: s.evaluation!,
      clients: partition?.clientsUsed ?? 0,
      rounds: cfg.training.rounds + cfg.training.pretrainRounds,
      secureAggregation: cfg.secureAggregation.enabled,
      strategies,
      baselines: s.baselines ?? {},
      ratio: central !== undefined && fed !== undefined && central > 0 ? round4(fed / central) : null,
      centralizedOver: { markov: over('markov'), popularity: over('popularity') },
      itemIds: partition?.itemIds,
      wallSeconds: Math.round(s.wallSeconds ?? 0),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const program = new Command('bench:quality')
    .description('Profile quality (centralised, FedAvg with SecAgg, local-only) beside popularity, Markov and the head rules, as JSON.')
    .requiredOption('-d, --data-path <dir>', 'folder with ratings.csv and movies.csv (MovieLens layout)')
    .option('-c, --config <file>', 'experiment file', 'simulations/experiments/movielens-loo.json')
    .option('--synthetic', 'also run simulations/experiments/synthetic-noniid.json (every head against its rule)')
    .option('--rounds <n>', 'override training.rounds (fewer for a quick look)')
    .option('-o, --out <file>', 'also write the JSON here')
    .addHelpText('after', '\nPrints {protocol, strategies.{centralized,fedavg,local}.{ndcg10,hr10,...}, baselines.{popularity,markov,...}, ratio}\nfor the data path, and the same under "synthetic" with --synthetic.');
  program.parse();
  const o = program.opts<{ dataPath: string; config: string; synthetic?: boolean; rounds?: string; out?: string }>();
  const rounds = o.rounds === undefined ? undefined : Number(o.rounds);
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`--rounds must be an integer >= 1, got ${o.rounds}`);
  const withRounds = (cfg: SimulationConfig): SimulationConfig => (rounds === undefined ? cfg : { ...cfg, training: { ...cfg.training, rounds } });
  const t0 = performance.now();
  const main_ = await runQuality(withRounds(loadSimulationConfig(o.config, { dataPath: o.dataPath })));
  const synthetic = o.synthetic ? await runQuality(withRounds(loadSimulationConfig('simulations/experiments/synthetic-noniid.json'))) : undefined;
  const result = { ...main_, ...(synthetic ? { synthetic } : {}), totalSeconds: Math.round((performance.now() - t0) / 1000) };
  const text = JSON.stringify(result, null, 2);
  process.stdout.write(`${text}\n`);
  if (o.out) writeFileSync(o.out, `${text}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:quality: ${isFedProfileError(e) ? e.message : e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
