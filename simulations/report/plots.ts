import { existsSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { METRICS, type RoundRecord } from './types.js';

/**
 * Charts are vega-lite specs rendered headless to SVG, then rasterised by resvg. resvg draws no text
 * without fonts, so the font is named explicitly and the system fonts are loaded.
 */
const FONT = 'DejaVu Sans';
const FONT_DIRS = ['/usr/share/fonts', '/usr/local/share/fonts'].filter((d) => existsSync(d));

const LABELS: Record<string, string> = {
  ndcg10: 'NDCG@10', hr10: 'HR@10', auc: 'AUC (purchase)', interestP3: 'Interest P@3', tierAcc: 'Tier accuracy',
};

export interface Chart {
  name: string;
  title: string;
  svg: string;
  png: Buffer;
}

async function render(name: string, title: string, spec: TopLevelSpec): Promise<Chart> {
  const full = {
    ...spec,
    background: 'white',
    config: { font: FONT, title: { fontSize: 14 }, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11 } },
  } as TopLevelSpec;
  const compiled = vegaLite.compile(full).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: 2 },
    background: 'white',
    font: { loadSystemFonts: true, fontDirs: FONT_DIRS, defaultFontFamily: FONT, sansSerifFamily: FONT },
  }).render().asPng();
  return { name, title, svg, png };
}

const lineData = (records: readonly RoundRecord[]) => records.map((r) => ({
  strategy: r.strategy, round: r.round, phase: r.phase,
  bytes: r.totalBytesUp + r.totalBytesDown,
  ...Object.fromEntries(METRICS.map((m) => [LABELS[m], r[m]])),
}));

/** One panel per metric, a line per strategy, x = round (pre-training rounds included). */
function metricVsRound(records: readonly RoundRecord[]): TopLevelSpec {
  return {
    title: 'Test metrics per round',
    data: { values: lineData(records) },
    transform: [{ fold: METRICS.map((m) => LABELS[m]!), as: ['metric', 'value'] }, { filter: 'isValid(datum.value)' }],
    facet: { field: 'metric', type: 'nominal', title: null, sort: METRICS.map((m) => LABELS[m]!) },
    columns: 3,
    spec: {
      width: 220, height: 150,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'round', type: 'quantitative', title: 'round', axis: { tickMinStep: 1 } },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false }, axis: { format: '.3~f' } },
        color: { field: 'strategy', type: 'nominal' },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

function metricVsBytes(records: readonly RoundRecord[], metric: string): TopLevelSpec {
  const fed = records.filter((r) => r.totalBytesUp + r.totalBytesDown > 0);
  return {
    title: `${LABELS[metric]} against communication`,
    width: 480, height: 280,
    data: { values: lineData(fed).map((d) => ({ ...d, megabytes: d.bytes / 1e6 })) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'megabytes', type: 'quantitative', title: 'cumulative MB (up + down)' },
      y: { field: LABELS[metric]!, type: 'quantitative', title: LABELS[metric], scale: { zero: false } },
      color: { field: 'strategy', type: 'nominal' },
    },
  } as TopLevelSpec;
}

function participationHistogram(participation: Record<string, Record<string, number>>): TopLevelSpec {
  const values = Object.entries(participation).flatMap(([strategy, perClient]) =>
    Object.values(perClient).map((rounds) => ({ strategy, rounds })));
  return {
    title: 'Client participation (rounds completed per client)',
    width: 480, height: 240,
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'rounds', type: 'ordinal', title: 'rounds completed', axis: { labelAngle: 0 } },
      xOffset: { field: 'strategy', type: 'nominal' },
      y: { aggregate: 'count', type: 'quantitative', title: 'clients', axis: { tickMinStep: 1 } },
      color: { field: 'strategy', type: 'nominal' },
    },
  } as TopLevelSpec;
}

export async function renderCharts(
  records: readonly RoundRecord[],
  participation: Record<string, Record<string, number>>,
): Promise<Chart[]> {
  const charts: Chart[] = [];
  if (records.length > 0) charts.push(await render('metrics-by-round', 'Test metrics per round', metricVsRound(records)));
  if (records.some((r) => r.totalBytesUp + r.totalBytesDown > 0)) {
    charts.push(await render('ndcg-by-bytes', 'NDCG@10 against communication', metricVsBytes(records, 'ndcg10')));
    charts.push(await render('auc-by-bytes', 'AUC against communication', metricVsBytes(records, 'auc')));
  }
  if (Object.keys(participation).length > 0) {
    charts.push(await render('participation', 'Client participation', participationHistogram(participation)));
  }
  return charts;
}
