import { Command, InvalidArgumentError, Option } from 'commander';
import { ensureOutputDir } from '../shared/cli/paths.js';
import type { ReadReport, SourceFormat } from '../shared/data/readers/report.js';
import { DEFAULT_SYNTHETIC } from './synthetic/generate.js';

function intArg(min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}

function numArg(min: number, max = Infinity): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expected a number in [${min}, ${max}]`);
    return n;
  };
}

/** Human-readable summary of a read: rows, users, actions and every drop reason with example line numbers. */
export function formatReadReport(r: ReadReport): string {
  const lines = [
    `file:    ${r.file}`,
    `format:  ${r.format}`,
    `rows:    ${r.rowsRead} read, ${r.kept} kept, ${r.dropped} dropped`,
    `users:   ${r.users}`,
    `actions: ${Object.entries(r.actions).map(([a, n]) => `${a}=${n}`).join(' ') || 'none'}`,
  ];
  const reasons = Object.entries(r.droppedByReason).sort((a, b) => b[1].count - a[1].count);
  if (reasons.length > 0) {
    lines.push('dropped rows by reason:');
    for (const [reason, t] of reasons) lines.push(`  ${reason}: ${t.count} (first at line ${t.firstLines.join(', ')})`);
  }
  const warnings = Object.entries(r.warnings);
  if (warnings.length > 0) {
    lines.push('kept with a fallback:');
    for (const [w, n] of warnings) lines.push(`  ${w}: ${n}`);
  }
  return lines.join('\n');
}

export function dataCommand(): Command {
  const data = new Command('data').description('Behaviour data: generate synthetic e-commerce data and inspect data files');

  data
    .command('generate')
    .description('Generate a seeded synthetic e-commerce data set: events.jsonl (all merchants), merchants/<id>.jsonl (one file per merchant), taxonomy.json (for client --categories), truth.json (latent user profiles) and catalogue.json')
    .requiredOption('--out <dir>', 'output folder (created if missing)')
    .option('--users <n>', 'number of users', intArg(1), DEFAULT_SYNTHETIC.users)
    .option('--merchants <m>', 'number of merchants; users are dealt round-robin to them, and each gets its own events file', intArg(1), DEFAULT_SYNTHETIC.merchants)
    .option('--seed <s>', 'random seed: the same seed and options give identical files', DEFAULT_SYNTHETIC.seed.toString())
    .option('--categories <k>', 'number of product categories', intArg(2), DEFAULT_SYNTHETIC.categories)
    .option('--items-per-category <n>', 'catalogue items per category', intArg(1), DEFAULT_SYNTHETIC.itemsPerCategory)
    .option('--tiers <n>', 'number of spending tiers (must match the model numTiers)', intArg(2), DEFAULT_SYNTHETIC.numTiers)
    .option('--days <d>', 'length of the simulated period in days', numArg(0.01), DEFAULT_SYNTHETIC.days)
    .option('--sessions-per-week <r>', 'median sessions per user per week (drives the event count)', numArg(0.01), DEFAULT_SYNTHETIC.sessionsPerWeek)
    .option('--merchant-alpha <a>', 'Dirichlet concentration of merchant category mixes; smaller = more non-IID', numArg(0.001), DEFAULT_SYNTHETIC.merchantAlpha)
    .option('--search-rate <p>', 'probability that a session starts with a search query', numArg(0, 1), DEFAULT_SYNTHETIC.searchRate)
    .option('--review-rate <p>', 'probability that a purchase is followed by a review', numArg(0, 1), DEFAULT_SYNTHETIC.reviewRate)
    .addHelpText('after', '\nExample:\n  data generate --out data/synth --users 2000 --merchants 5 --seed 42\n'
      + '  fedprofile client --data data/synth/merchants/m1.jsonl --categories data/synth/taxonomy.json ...\n')
    .action(async (o: {
      out: string; users: number; merchants: number; seed: string; categories: number; itemsPerCategory: number; tiers: number;
      days: number; sessionsPerWeek: number; merchantAlpha: number; searchRate: number; reviewRate: number;
    }) => {
      const out = ensureOutputDir(o.out);
      const { writeSynthetic } = await import('./synthetic/generate.js');
      const seed = /^-?\d+$/.test(o.seed) ? Number(o.seed) : o.seed;
      const w = await writeSynthetic(out, {
        seed, users: o.users, merchants: o.merchants, categories: o.categories, itemsPerCategory: o.itemsPerCategory,
        numTiers: o.tiers, days: o.days, sessionsPerWeek: o.sessionsPerWeek, merchantAlpha: o.merchantAlpha,
        searchRate: o.searchRate, reviewRate: o.reviewRate,
      });
      process.stdout.write(`${JSON.stringify({ ...w, generateMs: Math.round(w.generateMs) }, null, 2)}\n`);
    });

  data
    .command('inspect')
    .description('Read a data file or folder and report rows read/kept/dropped (with reasons and line numbers), users and actions')
    .argument('<path>', 'JSONL/CSV events file, MovieLens folder or ratings.csv, RetailRocket events.csv or folder, Taobao UserBehavior.csv')
    .addOption(new Option('--format <format>', 'source format; auto detects it from the extension, folder contents or header').choices(['auto', 'jsonl', 'csv', 'movielens', 'retailrocket', 'taobao']).default('auto'))
    .option('--item-properties <files...>', 'RetailRocket item_properties*.csv files giving item categories (found automatically in a folder)')
    .option('--json', 'print the report as JSON instead of text')
    .action(async (path: string, o: { format: 'auto' | SourceFormat; itemProperties?: string[]; json?: boolean }) => {
      const { readEvents } = await import('../shared/data/readers/index.js');
      const stream = readEvents({ path, format: o.format, itemProperties: o.itemProperties });
      for await (const _ of stream) {
        // Only the report is wanted; events stream through without being kept.
      }
      const report = stream.report();
      process.stdout.write(`${o.json ? JSON.stringify(report, null, 2) : formatReadReport(report)}\n`);
    });

  return data;
}
