import { Command, InvalidArgumentError } from 'commander';
import { ensureOutputDir } from '../shared/cli/paths.js';

function seedCountArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new InvalidArgumentError('must be an integer in [1, 1000]');
  return n;
}

function seedArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) throw new InvalidArgumentError('must be an integer in [0, 2147483647]');
  return n;
}

const HELP = `
Runs every strategy listed in the experiment file on the same data, partition and seed, and writes into DIR:
  metrics.jsonl   one line per strategy and round (written as rounds finish)
  summary.json    final metrics per strategy, the resolved config and the backend, and the profile quality
                  (completeness, staleness and refresh latency, explanation faithfulness) of each final model
  plots/          metric vs round, metric vs bytes and client participation (SVG + PNG)
  report.md       the strategy table with the plots embedded, and the run's fedprofile version, git commit,
                  Node.js version, date and command
With --seeds N the experiment runs N times (seed, seed+1, …) into DIR/seed-<n>/, and DIR/summary.json and
DIR/report.md give every metric as mean ± the half-width of its 95 % confidence interval over the seeds.

Strategies: centralized, local, fedavg, fedprox, fedavgm, fedadam, fedyogi.

Ctrl-C stops the run and still writes summary.json and report.md for the rounds that finished.

Reproducibility: two runs of the same config and seed on the same tfjs backend write identical metrics.jsonl
lines (every metric and loss, bit for bit), except the wall-clock and CPU-time fields (seconds, totalSeconds,
timing, and the SecAgg+ timing in aggregation). That holds with secure aggregation on as well. It does NOT
hold across backends, and a run with secure aggregation gives different numbers from the same run without
it (updates are clipped and rounded to fixed point). FEDPROFILE_BACKEND selects the tfjs backend.

Examples:
  fedprofile simulate --config simulations/experiments/demo-sim.json --out runs/demo-sim
  fedprofile simulate --config simulations/experiments/movielens-example.json --data-path ~/data/ml-latest-small --out runs/ml
  fedprofile simulate --config simulations/experiments/movielens-loo.json --data-path ~/data/ml-latest-small --out runs/ml-loo
`;

export function simulateCommand(): Command {
  return new Command('simulate')
    .description('Run a reproducible federated-learning experiment (strategies, non-IID splits, secure aggregation) and write a report.')
    .requiredOption('-c, --config <file>', 'experiment file (JSON), e.g. simulations/experiments/synthetic-noniid.json')
    .requiredOption('-o, --out <dir>', 'output folder (created if missing; files in it are overwritten)')
    .option('-s, --seed <n>', 'override the experiment seed', seedArg)
    .option('--seeds <n>', 'run N seeds (seed, seed+1, …) and report mean ± 95% CI per metric', seedCountArg, 1)
    .option('-d, --data-path <path>', 'override data.path (a MovieLens folder, an events file, ...)')
    .option('--no-progress', 'no progress bars or log lines')
    .addHelpText('after', HELP)
    .action(async (o: { config: string; out: string; seed?: number; seeds: number; dataPath?: string; progress: boolean }) => {
      const { loadSimulationConfig } = await import('./config.js');
      const cfg = loadSimulationConfig(o.config, {
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        ...(o.dataPath !== undefined ? { dataPath: o.dataPath } : {}),
      });
      const outDir = ensureOutputDir(o.out);
      const { runSimulation } = await import('./runner.js');
      const controller = new AbortController();
      let interrupts = 0;
      const onSigint = () => {
        interrupts++;
        if (interrupts > 1) process.exit(130);
        process.stderr.write('\nInterrupted: writing the results of the finished rounds (Ctrl-C again to quit at once)\n');
        controller.abort();
      };
      process.on('SIGINT', onSigint);
      try {
        if (o.seeds > 1) {
          const { runSeeds } = await import('./multi-seed.js');
          const r = await runSeeds(cfg, o.seeds, { outDir: outDir, progress: o.progress, signal: controller.signal });
          const cell = (m: { mean: number | null; ci95: number | null } | undefined) =>
            (m?.mean == null ? 'n/a' : `${m.mean.toFixed(4)} ± ${m.ci95 === null ? 'n/a' : m.ci95.toFixed(4)}`);
          const lines = Object.entries(r.summary.strategies).map(([name, m]) =>
            `  ${name.padEnd(12)} ndcg10 ${cell(m.ndcg10)}  auc ${cell(m.auc)}  tierAcc ${cell(m.tierAcc)}`);
          process.stdout.write(`${lines.join('\n')}\n${r.interrupted ? 'Interrupted. ' : ''}Report: ${r.reportPath}\n`);
          if (r.interrupted) process.exitCode = 130;
          return;
        }
        const r = await runSimulation(cfg, { outDir: outDir, progress: o.progress, signal: controller.signal });
        const lines = Object.entries(r.summary.strategies).map(([name, s]) =>
          `  ${name.padEnd(12)} ndcg10 ${s.ndcg10.toFixed(4)}  hr10 ${s.hr10.toFixed(4)}  auc ${s.auc.toFixed(4)}  `
          + `interestP3 ${s.interestP3.toFixed(4)}  tierAcc ${s.tierAcc.toFixed(4)}  ${s.seconds.toFixed(1)} s`);
        process.stdout.write(`${lines.join('\n')}\n${r.interrupted ? 'Interrupted. ' : ''}Report: ${r.report.reportPath}\n`);
        if (r.interrupted) process.exitCode = 130;
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
