import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SimulationConfig } from './config.js';
import { collectRunMetadata, runMetadataMarkdown } from './report/run-metadata.js';
import { seedsMarkdown, summariseSeeds, type SeedsSummary } from './report/seeds.js';
import { runSimulation, type RunOptions, type RunResult } from './runner.js';

export interface SeedsResult {
  summary: SeedsSummary;
  runs: RunResult[];
  summaryPath: string;
  reportPath: string;
  interrupted: boolean;
}

/**
 * Runs the experiment once per seed (cfg.seed, cfg.seed + 1, …) into `seed-<n>/` folders, then writes
 * summary.json and report.md with every metric as mean ± 95 % confidence interval over the seeds.
 */
export async function runSeeds(cfg: SimulationConfig, count: number, opts: RunOptions): Promise<SeedsResult> {
  const run = opts.run ?? collectRunMetadata();
  const seeds = Array.from({ length: count }, (_, i) => cfg.seed + i);
  mkdirSync(opts.outDir, { recursive: true });
  const runs: RunResult[] = [];
  let interrupted = false;
  for (const seed of seeds) {
    if (opts.signal?.aborted) { interrupted = true; break; }
    const r = await runSimulation({ ...cfg, seed }, { ...opts, outDir: join(opts.outDir, `seed-${seed}`), run });
    if (r.interrupted) { interrupted = true; break; }
    runs.push(r);
  }
  const done = seeds.slice(0, runs.length);
  const summary: SeedsSummary = {
    ...summariseSeeds(done, runs.map((r) => r.summary), done.map((s) => `seed-${s}`)),
    config: cfg, backend: runs[0]?.summary.backend ?? 'n/a', run, ...(interrupted ? { interrupted } : {}),
  };
  const summaryPath = join(opts.outDir, 'summary.json');
  writeFileSync(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
  const reportPath = join(opts.outDir, 'report.md');
  const title = `fedprofile simulation${cfg.name ? `: ${cfg.name}` : ''} (${done.length} seeds)`;
  writeFileSync(reportPath, seedsMarkdown(summary, title, runMetadataMarkdown(run)));
  return { summary, runs, summaryPath, reportPath, interrupted };
}
