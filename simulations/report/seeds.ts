import type { RunMetadata } from './run-metadata.js';
import type { Summary } from './types.js';

/** Two-sided 95 % Student t quantiles t(0.975, df) for df = 1..30. */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
  2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042];

export function tQuantile975(df: number): number {
  if (df < 1) return Number.NaN;
  if (df <= 30) return T975[df - 1]!;
  // Beyond the table the quantile falls slowly towards 1.960: 2.021 at 40, 2.000 at 60, 1.980 at 120.
  if (df <= 40) return 2.042 + ((df - 30) / 10) * (2.021 - 2.042);
  if (df <= 60) return 2.021 + ((df - 40) / 20) * (2.000 - 2.021);
  if (df <= 120) return 2.000 + ((df - 60) / 60) * (1.980 - 2.000);
  return 1.960;
}

export interface SeedStat {
  mean: number | null;
  /** Half-width of the 95 % confidence interval of the mean (Student t); null with fewer than 2 values. */
  ci95: number | null;
  /** Seeds that produced a finite value (a metric the data cannot measure is left out, never counted as 0). */
  n: number;
  values: Array<number | null>;
}

export function meanCI(values: ReadonlyArray<number | null | undefined>): SeedStat {
  const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const n = finite.length;
  const out = values.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : null));
  if (n === 0) return { mean: null, ci95: null, n, values: out };
  const mean = finite.reduce((s, v) => s + v, 0) / n;
  if (n < 2) return { mean, ci95: null, n, values: out };
  const variance = finite.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1);
  return { mean, ci95: tQuantile975(n - 1) * Math.sqrt(variance / n), n, values: out };
}

export interface SeedsSummary {
  seeds: number[];
  /** Per strategy, per numeric summary field: mean ± 95 % CI over the seeds. */
  strategies: Record<string, Record<string, SeedStat>>;
  /** The per-seed runs' folders, relative to the report. */
  runs: string[];
  config: unknown;
  backend: string;
  run?: RunMetadata;
  interrupted?: boolean;
}

/** Combines one summary per seed (same order as `seeds`) into mean ± 95 % CI per strategy and metric. */
export function summariseSeeds(seeds: readonly number[], summaries: readonly Summary[], runs: readonly string[]): Omit<SeedsSummary, 'config' | 'backend'> {
  const strategies: SeedsSummary['strategies'] = {};
  const names = [...new Set(summaries.flatMap((s) => Object.keys(s.strategies)))];
  for (const name of names) {
    const keys = [...new Set(summaries.flatMap((s) => Object.entries(s.strategies[name] ?? {}).filter(([, v]) => typeof v === 'number' || v === null).map(([k]) => k)))];
    strategies[name] = Object.fromEntries(keys.map((k) => [k, meanCI(summaries.map((s) => {
      const v = (s.strategies[name] as unknown as Record<string, unknown> | undefined)?.[k];
      return typeof v === 'number' ? v : null;
    }))]));
  }
  return { seeds: [...seeds], strategies, runs: [...runs] };
}

const fmt = (s: SeedStat | undefined, d = 4): string => {
  if (!s || s.mean === null) return 'n/a';
  return s.ci95 === null ? s.mean.toFixed(d) : `${s.mean.toFixed(d)} ± ${s.ci95.toFixed(d)}`;
};

/** The multi-seed table: every metric as mean ± half-width of its 95 % CI. */
export function seedsMarkdown(s: SeedsSummary, title: string, runSection: string[]): string {
  const lines = [`# ${title}`, ''];
  if (s.interrupted) lines.push('> The run was interrupted: only the seeds that finished are included.', '');
  lines.push(`${s.seeds.length} seeds (${s.seeds.join(', ')}); each cell is the mean ± the half-width of its 95 % confidence`
    + ' interval (Student t over seeds). Backend: `' + s.backend + '`.', '');
  lines.push('| strategy | NDCG@10 | HR@10 | AUC | interest P@3 | tier acc. | seconds |', '|---|---|---|---|---|---|---|');
  for (const [name, m] of Object.entries(s.strategies)) {
    lines.push(`| ${name} | ${fmt(m.ndcg10)} | ${fmt(m.hr10)} | ${fmt(m.auc)} | ${fmt(m.interestP3)} | ${fmt(m.tierAcc)} | ${fmt(m.seconds, 1)} |`);
  }
  lines.push('', 'Per-seed reports: ' + s.runs.map((r) => `[${r}](${r}/report.md)`).join(', '), '');
  lines.push(...runSection);
  return lines.join('\n');
}
