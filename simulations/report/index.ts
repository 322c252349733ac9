import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { reportMarkdown } from './markdown.js';
import { renderCharts } from './plots.js';
import type { Summary } from './types.js';
import type { RoundRecord } from './types.js';

export { MetricsLog } from './metrics-log.js';
export { summariseStrategies } from './summary.js';
export type { RoundRecord, StrategySummary, Summary } from './types.js';
export { collectRunMetadata, type RunMetadata } from './run-metadata.js';

export interface WrittenReport {
  summaryPath: string;
  reportPath: string;
  plots: string[];
}

/** Writes summary.json, plots/*.svg + *.png and report.md into `dir` (metrics.jsonl is written live). */
export async function writeReport(
  dir: string,
  summary: Summary,
  records: readonly RoundRecord[],
  participation: Record<string, Record<string, number>>,
  title = 'fedprofile simulation',
  withPlots = true,
): Promise<WrittenReport> {
  mkdirSync(join(dir, 'plots'), { recursive: true });
  const summaryPath = join(dir, 'summary.json');
  writeFileSync(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
  const charts = withPlots ? await renderCharts(records, participation) : [];
  const plots: string[] = [];
  for (const c of charts) {
    const svg = join(dir, 'plots', `${c.name}.svg`);
    const png = join(dir, 'plots', `${c.name}.png`);
    writeFileSync(svg, c.svg);
    writeFileSync(png, c.png);
    plots.push(svg, png);
  }
  const reportPath = join(dir, 'report.md');
  writeFileSync(reportPath, reportMarkdown(summary, charts, title));
  return { summaryPath, reportPath, plots };
}
