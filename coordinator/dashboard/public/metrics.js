// Which round metric is what: groups and human labels for the metric picker and the chart, and the
// baseline each evaluation metric is drawn against. Pure functions, no DOM.

const BASE_LABELS = {
  loss: 'Next-item loss', ndcg10: 'NDCG@10', hr10: 'Hit rate@10', ndcg10Sampled: 'NDCG@10 (100 sampled negatives)',
  hr10Sampled: 'Hit rate@10 (100 sampled negatives)', auc: 'Purchase AUC', interestP3: 'Interest precision@3',
  tierAcc: 'Spending-tier accuracy', clients: 'Clients evaluated', examples: 'Users evaluated', dropped: 'Results dropped',
};

const ROUND_LABELS = {
  durationMs: 'Round duration (ms)', maxTrainMs: 'Slowest client training (ms)',
  meanReadyMs: 'Start to mean ready (ms)', commitMs: 'Commit: server step, checkpoint, store (ms)',
  participants: 'Clients selected', contributors: 'Clients aggregated',
};

const AGG_LABELS = {
  bytesIn: 'Bytes in', bytesOut: 'Bytes out', dropouts: 'Dropouts', clippedFraction: 'Clipped fraction', bitWidth: 'Bit width',
  contributors: 'Contributors', totalWeight: 'Total weight', aggregateMs: 'Aggregation time (ms)',
  dpEpsilon: 'Privacy ε spent', dpDelta: 'Privacy δ', dpNoiseMultiplier: 'Noise multiplier (effective)',
  dpSamplingRate: 'Sampling rate', dpUnclippedArrivals: 'Updates arriving unclipped',
  uploadBytes: 'Upload bytes (encoded)', uploadBytesPerUpdate: 'Upload bytes per update (encoded)',
};

/** The order groups appear in the picker. */
export const GROUPS = ['Model quality (federated evaluation)', 'Training (reported by clients)', 'Validation (reported by clients)', 'Round', 'Aggregation', 'Server optimizer', 'Other'];

/** "clippedFraction" → "Clipped fraction", "val_ndcg10" → "Val ndcg10": readable when no label is known. */
export function humanise(key) {
  const words = key.replace(/[_.]+/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').trim().toLowerCase();
  return words ? words[0].toUpperCase() + words.slice(1) : key;
}

/**
 * Describes one chart key ("eval.<k>" for federated evaluation, anything else a round metric):
 * its group, its label, a longer title for the chart and, for an evaluation metric, its baseline's key.
 * Baseline keys themselves are never offered on their own: they are drawn beside their metric.
 */
export function describeMetric(key) {
  if (key.startsWith('eval.')) {
    const k = key.slice(5);
    if (k.startsWith('baseline_')) return { key, group: null, label: `Baseline ${BASE_LABELS[k.slice(9)] ?? humanise(k.slice(9))}`, title: '' };
    const label = BASE_LABELS[k] ?? humanise(k);
    return { key, group: GROUPS[0], label, title: `${label} (evaluation)`, baselineKey: `eval.baseline_${k}` };
  }
  if (key.startsWith('train.val_')) {
    const k = key.slice(10);
    const label = BASE_LABELS[k] ?? humanise(k);
    return { key, group: GROUPS[2], label, title: `${label} (validation)` };
  }
  if (key.startsWith('train.')) {
    const k = key.slice(6);
    const label = BASE_LABELS[k] ?? humanise(k);
    return { key, group: GROUPS[1], label, title: `${label} (training)` };
  }
  if (key.startsWith('agg.')) {
    const label = AGG_LABELS[key.slice(4)] ?? humanise(key.slice(4));
    return { key, group: GROUPS[4], label, title: `${label} (aggregation)` };
  }
  if (key.startsWith('server.')) {
    const label = humanise(key.slice(7));
    return { key, group: GROUPS[5], label, title: `${label} (server optimizer)` };
  }
  if (ROUND_LABELS[key]) return { key, group: GROUPS[3], label: ROUND_LABELS[key], title: ROUND_LABELS[key] };
  return { key, group: GROUPS[6], label: humanise(key), title: humanise(key) };
}

/** Keys found in the rounds (round metrics and "eval."-prefixed evaluation metrics), with numbers. */
export function metricKeys(rounds) {
  const keys = new Set();
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  for (const r of rounds) {
    for (const [k, v] of Object.entries(r.metrics ?? {})) if (isNum(v)) keys.add(k);
    for (const [k, v] of Object.entries(r.evalMetrics ?? {})) if (isNum(v)) keys.add(`eval.${k}`);
  }
  return keys;
}

/** The picker: groups in GROUPS order, each with its options sorted by label; baselines left out. */
export function metricChoices(keys) {
  const groups = new Map(GROUPS.map((g) => [g, []]));
  for (const key of keys) {
    const d = describeMetric(key);
    if (d.group) groups.get(d.group).push({ key, label: d.label, hasBaseline: Boolean(d.baselineKey && keys.has(d.baselineKey)) });
  }
  return [...groups].filter(([, options]) => options.length > 0)
    .map(([group, options]) => ({ group, options: options.sort((a, b) => a.label.localeCompare(b.label)) }));
}

/** The metric shown first: a quality metric when there is one. */
export const DEFAULT_METRICS = ['eval.ndcg10', 'eval.loss', 'train.loss', 'train.val_ndcg10', 'durationMs'];
