import type { Chart } from './plots.js';
import { runMetadataMarkdown } from './run-metadata.js';
import { profileQualityMarkdown } from './profile-section.js';
import type { Summary } from './types.js';

const f = (x: number | null | undefined, d = 4) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : 'n/a');

const RULES: Record<string, string> = {
  popularity: 'popularity (next item)',
  markov: 'first-order Markov (next item)',
  mostRecentCategory: 'most-recent category (interests)',
  purchaseRate: 'purchase rate (propensity)',
  majorityTier: 'majority tier (tier)',
};

/** The rules on the same test users, in the strategy table's columns; n/a where a rule predicts nothing. */
function baselineRows(summary: Summary): string[] {
  const b = summary.baselines;
  if (!b) return [];
  const lines: string[] = [];
  for (const [name, m] of Object.entries(b)) {
    lines.push(`| *${RULES[name] ?? name}* | ${f(m['ndcg10'])} | ${f(m['hr10'])} | ${f(m['auc'])} | ${f(m['interestP3'])} | ${f(m['tierAcc'])} | | | | | | |`);
  }
  return lines;
}
const mb = (b: number) => (b / 1e6).toFixed(2);

export function reportMarkdown(summary: Summary, charts: readonly Chart[], title: string): string {
  const names = Object.keys(summary.strategies);
  const central = summary.strategies['centralized'];
  const lines: string[] = [`# ${title}`, ''];
  if (summary.interrupted) lines.push('> The run was interrupted: results cover the rounds that finished.', '');
  lines.push(`Backend: \`${summary.backend}\`${summary.wallSeconds !== undefined ? `, wall time ${summary.wallSeconds.toFixed(1)} s` : ''}.`, '');
  const ev = summary.evaluation;
  if (ev) {
    lines.push(`Evaluation: ${ev.protocol} on ${ev.testUsers} test users; full ranking over the item vocabulary${ev.excludeHistory ? ' with each user\'s history excluded' : ''}; sampled metrics against 100 ${ev.negatives} negatives. Rules in *italics* are scored on the same users; n/a = not measurable on this data or not predicted by the rule.`, '');
  }
  lines.push('| strategy | NDCG@10 | HR@10 | AUC | interest P@3 | tier acc. | rounds | seconds | MB up | MB down | NDCG vs central | rounds to 90% |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const n of names) {
    const s = summary.strategies[n]!;
    const rel = central && central.ndcg10 > 0 ? `${((100 * s.ndcg10) / central.ndcg10).toFixed(1)}%` : '';
    const r90 = s.roundsTo90pctCentralizedNdcg === undefined ? '' : s.roundsTo90pctCentralizedNdcg === null ? 'never' : String(s.roundsTo90pctCentralizedNdcg);
    lines.push(`| ${n} | ${f(s.ndcg10)} | ${f(s.hr10)} | ${f(s.auc)} | ${f(s.interestP3)} | ${f(s.tierAcc)} | ${s.rounds} | ${s.seconds.toFixed(1)} | ${mb(s.bytesUp)} | ${mb(s.bytesDown)} | ${rel} | ${r90} |`);
  }
  lines.push(...baselineRows(summary), '');
  const fused = names.filter((n) => summary.strategies[n]!.ndcg10Model !== undefined);
  if (fused.length) {
    lines.push('What each part of the next-item scorer adds (NDCG@10):', '');
    lines.push('| strategy | learned model alone | transition statistics alone | fused (mix chosen on validation) |', '|---|---|---|---|');
    for (const n of fused) {
      const s = summary.strategies[n]!;
      lines.push(`| ${n} | ${f(s.ndcg10Model)} | ${f(s.ndcg10Statistics)} | ${f(s.ndcg10)} |`);
    }
    lines.push('');
  }
  const private_ = names.filter((n) => summary.strategies[n]!.privacy);
  if (private_.length) {
    lines.push('Differential privacy (DP-FedAvg, client-level; RDP accountant, improved conversion):', '');
    lines.push('| strategy | ε | δ | rounds | MB up / round | MB down / round |', '|---|---|---|---|---|---|');
    for (const n of private_) {
      const s = summary.strategies[n]!;
      lines.push(`| ${n} | ${f(s.privacy!.epsilon, 3)} | ${s.privacy!.delta} | ${s.privacy!.rounds} | ${mb(s.bytesPerRound?.up ?? NaN)} | ${mb(s.bytesPerRound?.down ?? NaN)} |`);
    }
    lines.push('');
  }
  const timed = names.filter((n) => summary.strategies[n]!.timing);
  if (timed.length) {
    lines.push('Where the time went (seconds, summed over rounds):', '');
    lines.push('| strategy | train (wall) | aggregation / crypto | evaluate | client training (CPU, summed) |', '|---|---|---|---|---|');
    for (const n of timed) {
      const t = summary.strategies[n]!.timing!;
      const v = (k: string) => (t[k] !== undefined ? t[k]!.toFixed(1) : '');
      lines.push(`| ${n} | ${v('train')} | ${v('aggregation')} | ${v('evaluate')} | ${v('clientTrainCpu')} |`);
    }
    lines.push('');
  }
  if (summary.profile) lines.push(...profileQualityMarkdown(summary.profile));
  if (summary.partition) {
    lines.push('## Partition', '', '```json', JSON.stringify(summary.partition, null, 2), '```', '');
  }
  if (charts.length) {
    lines.push('## Plots', '');
    for (const c of charts) lines.push(`### ${c.title}`, '', `![${c.title}](plots/${c.name}.png)`, '', `[SVG](plots/${c.name}.svg)`, '');
  }
  if (summary.run) lines.push(...runMetadataMarkdown(summary.run));
  lines.push('## Config', '', '```json', JSON.stringify(summary.config, null, 2), '```', '');
  return lines.join('\n');
}
