// fedprofile operator dashboard: polls the coordinator's /api/v1 and renders it. Every piece of API data
// reaches the DOM through textContent or setAttribute, never through HTML parsing.

import { DEFAULT_METRICS, describeMetric, metricChoices, metricKeys } from './metrics.js';

const TOKEN_KEY = 'fedprofile.adminToken';
const API_BASE = new URL('../api/v1/', document.baseURI);
// Four small GETs a second per open page: cheap for the coordinator, and a round's progress shows at once.
const POLL_MS = 1000;
const SVG_NS = 'http://www.w3.org/2000/svg';

const STRATEGY_LABELS = { fedavg: 'FedAvg', fedprox: 'FedProx', fedavgm: 'FedAvgM', fedadam: 'FedAdam', fedyogi: 'FedYogi' };
const state = {
  token: sessionStorage.getItem(TOKEN_KEY) ?? '',
  selected: selectedFromHash(),
  timer: 0,
  inFlight: false,
  /** What each section last rendered, so an unchanged poll leaves the DOM (and keyboard focus) alone. */
  rendered: new Map(),
  federation: null,
  rounds: [],
  metric: '',
  showArchived: false,
};

// ---------- small DOM helpers ----------

const $ = (id) => document.getElementById(id);

/** Builds an element; string children become text nodes. Attributes starting with "on" are listeners. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k === 'className' ? 'class' : k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== undefined && c !== null) node.append(c instanceof Node ? c : String(c));
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

function renderOnChange(key, data, render) {
  const fingerprint = JSON.stringify(data);
  if (state.rendered.get(key) === fingerprint) return;
  state.rendered.set(key, fingerprint);
  render();
}

function fillTable(id, rows) {
  $(id).querySelector('tbody').replaceChildren(...rows);
  $(`${id}-empty`).hidden = rows.length > 0;
}

// ---------- formatting ----------

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const sig = new Intl.NumberFormat('en', { maximumSignificantDigits: 4 });
const sig3 = new Intl.NumberFormat('en', { maximumSignificantDigits: 3 });
const fmt = (v) => (isNum(v) ? sig.format(v) : '—');
const pct = (v) => (isNum(v) ? `${sig.format(v * 100)}%` : '—');

function fmtBytes(n) {
  if (!isNum(n)) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${sig3.format(n)} ${units[i]}`;
}

function fmtDuration(ms) {
  if (!isNum(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${sig3.format(ms / 1000)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function fmtTime(ms) {
  if (!isNum(ms)) return '—';
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

const short = (s, n = 12) => (typeof s === 'string' && s.length > n ? `${s.slice(0, n)}…` : (s ?? '—'));
const statusBadge = (status) => el('span', { className: `status status-${status}` }, status);
const strategyLabel = (config) => STRATEGY_LABELS[config?.strategy?.name] ?? config?.strategy?.name ?? 'FedAvg';

/** A round's value for a chart/table key: "eval.X" reads the federated evaluation, anything else the round metrics. */
function metricOf(round, key) {
  if (key.startsWith('eval.')) return round.evalMetrics?.[key.slice(5)];
  return round.metrics?.[key];
}

const firstOf = (round, keys) => keys.map((k) => metricOf(round, k)).find(isNum);

function aggregationLabel(federation, round) {
  const m = round.metrics ?? {};
  const secure = Boolean(federation.config?.secureAggregation) || isNum(m['agg.bitWidth']) || isNum(m['agg.clippedFraction']);
  const parts = [secure ? 'SecAgg+' : 'plain'];
  if (isNum(m['agg.clippedFraction'])) parts.push(`${pct(m['agg.clippedFraction'])} clipped`);
  if (isNum(m['agg.bitWidth'])) parts.push(`${m['agg.bitWidth']}-bit`);
  return parts.join(' · ');
}

// ---------- API ----------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, { method = 'GET', body, as = 'json' } = {}) {
  const headers = { authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(new URL(path, API_BASE), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, `Cannot reach the coordinator (${e instanceof Error ? e.message : String(e)}).`);
  }
  if (!res.ok) {
    let message = res.statusText || 'request failed';
    try { message = (await res.json())?.error?.message ?? message; } catch { /* not a JSON error body */ }
    throw new ApiError(res.status, message);
  }
  return as === 'blob' ? res.blob() : res.json();
}

const fedPath = (id, rest = '') => `federations/${encodeURIComponent(id)}${rest}`;
const isAuthError = (e) => e instanceof ApiError && (e.status === 401 || e.status === 403);

function describeError(e, doing) {
  if (isAuthError(e)) return `The admin token was rejected (${e.status}). Paste a valid admin token and connect again.`;
  if (e instanceof ApiError && e.status === 0) return e.message;
  if (e instanceof ApiError) return `${doing} failed (${e.status}): ${e.message}`;
  return `${doing} failed: ${e instanceof Error ? e.message : String(e)}`;
}

// ---------- banner and connection line ----------

let bannerSource = '';

function showBanner(message, source) {
  bannerSource = source;
  $('banner-text').textContent = message;
  $('banner').hidden = false;
}

function clearBanner(source) {
  if (source && bannerSource !== source) return;
  $('banner').hidden = true;
  bannerSource = '';
}

function setConnection(text) { $('connection').textContent = text; }

// ---------- polling ----------

function startPolling() {
  stopPolling();
  state.timer = setInterval(refresh, POLL_MS);
  void refresh();
}

function stopPolling() {
  clearInterval(state.timer);
  state.timer = 0;
}

async function refresh() {
  if (!state.token || state.inFlight) return;
  state.inFlight = true;
  try {
    // Archived federations are fetched too, so a selected one stays open; the list shows them on request.
    const { federations } = await api('federations?archived=include');
    renderFederations(federations.filter((f) => state.showArchived || !f.archivedAt || f.id === state.selected));
    const federation = federations.find((f) => f.id === state.selected) ?? null;
    clearBanner('poll');
    if (state.selected && !federation) {
      // Kept until dismissed: the next poll would otherwise wipe it before anyone reads it.
      showBanner(`There is no federation with id "${state.selected}".`, 'action');
      state.selected = '';
    }
    if (federation) {
      const [rounds, clients, tokens] = await Promise.all([
        api(fedPath(federation.id, '/rounds')), api(fedPath(federation.id, '/clients')), api(fedPath(federation.id, '/tokens')),
      ]);
      renderFederation(federation, rounds.rounds, clients.clients, tokens.tokens);
    } else {
      $('federation').hidden = true;
    }
    setConnection(`Connected · updated ${fmtTime(Date.now()).slice(11)}`);
  } catch (e) {
    showBanner(describeError(e, 'Loading federations'), 'poll');
    if (isAuthError(e)) {
      stopPolling();
      setConnection('Not connected: token rejected');
    } else {
      setConnection(`Connection problem; retrying every ${POLL_MS / 1000} s`);
    }
  } finally {
    state.inFlight = false;
  }
}

/** Runs an operator action, shows its failure in the banner, and refreshes at once on success. */
async function act(doing, fn) {
  try {
    const result = await fn();
    clearBanner();
    void refresh();
    return result;
  } catch (e) {
    showBanner(describeError(e, doing), 'action');
    if (isAuthError(e)) stopPolling();
    return undefined;
  }
}

// ---------- rendering ----------

function renderFederations(federations) {
  renderOnChange('federations', { federations, selected: state.selected, showArchived: state.showArchived }, () => {
    fillTable('federations', federations.map((f) => {
      const current = f.live?.round ?? null;
      return el('tr', { 'aria-current': f.id === state.selected ? 'true' : undefined },
        el('td', {}, el('a', { href: `#fed=${encodeURIComponent(f.id)}` }, f.name), el('div', { className: 'muted mono' }, f.id)),
        el('td', {}, statusBadge(f.status), f.archivedAt ? el('span', { className: 'status status-archived' }, 'archived') : null,
          f.statusReason ? el('div', { className: 'muted' }, f.statusReason) : null),
        el('td', {}, current === null ? (f.live?.waiting ? `idle: ${f.live.waiting.message}` : 'idle') : `${current} (${f.live?.stage ?? ''})`),
        el('td', { className: 'num' }, `${f.completedRounds} / ${f.config?.rounds ?? '?'}`),
        el('td', { className: 'num' }, String(f.live?.online ?? 0)),
        el('td', {}, strategyLabel(f.config)),
      );
    }));
    if (federations.length === 0) $('federations-empty').textContent = 'No federations yet. Create one with POST /api/v1/federations.';
  });
}

/** "ε 1.23 of 8 (δ 1e-5, central)", or "off" without DP. */
function privacyLabel(p) {
  if (!p) return 'off';
  const budget = p.epsilonBudget === null ? 'no budget' : `of ${p.epsilonBudget}`;
  return `ε ${p.epsilon.toFixed(3)} ${budget} (δ ${p.delta}, ${p.mode}, z ${p.noiseMultiplier}, C ${p.clipNorm})`;
}

function renderFederation(f, rounds, clients, tokens) {
  state.federation = f;
  state.rounds = rounds;
  $('federation').hidden = false;
  renderOnChange('federation', f, () => {
    $('federation-title').textContent = f.name;
    $('federation-status').replaceChildren(statusBadge(f.status));
    const archived = Boolean(f.archivedAt);
    const can = {
      start: f.status === 'created' && !archived, pause: f.status === 'running', resume: f.status === 'paused' && !archived,
      stop: f.status !== 'stopped' && f.status !== 'completed', delete: f.status !== 'running',
    };
    for (const b of document.querySelectorAll('.controls button')) b.disabled = !can[b.dataset.action];
    // Archive and unarchive are one toggle: only the one that applies is shown.
    for (const b of document.querySelectorAll('.controls [data-action$="archive"]')) {
      b.hidden = (b.dataset.action === 'archive') === archived;
      b.disabled = b.dataset.action === 'archive' && f.status === 'running';
    }
    const note = federationNote(f);
    $('federation-note').textContent = note;
    $('federation-note').hidden = note === '';
    const items = [
      ['Federation id', f.id],
      ['Stage', f.live?.round ? `round ${f.live.round}: ${f.live.stage}` : f.live?.stage ?? '—'],
      ['Rounds done', `${f.completedRounds} of ${f.config?.rounds ?? '?'}`],
      ['Clients online', f.live?.waiting ? `${f.live.online ?? 0} (${f.live.waiting.needed} needed)` : String(f.live?.online ?? 0)],
      ['Strategy', strategyLabel(f.config)],
      ['Aggregation', f.config?.secureAggregation ? 'SecAgg+' : 'plain'],
      ['Robust rule', f.config?.robustAggregation?.rule ?? 'none'],
      ['Privacy', privacyLabel(f.privacy)],
      ['Parameters', isNum(f.parameters) ? f.parameters.toLocaleString('en') : '—'],
      ['Global model', short(f.modelHash, 16)],
    ];
    $('federation-summary').replaceChildren(...items.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v))));
  });
  renderOnChange('rounds', { rounds, secure: f.config?.secureAggregation ?? null, id: f.id }, () => {
    fillTable('rounds', [...rounds].reverse().map((r) => roundRow(f, r)));
    renderMetricChoices(rounds);
    renderChart();
  });
  renderOnChange('clients', clients, () => {
    fillTable('clients', clients.map((c) => el('tr', {},
      el('td', { className: 'mono', title: c.id }, short(c.id, 10)),
      el('td', {}, c.name ?? '—'),
      el('td', {}, el('span', { className: c.online ? 'dot online' : 'dot' }, c.online ? 'online' : 'offline')),
      el('td', { className: 'nowrap' }, fmtTime(c.lastSeenAt)),
      el('td', {}, c.round ? el('span', { className: `client-state state-${c.round.state.replace(/\s+/g, '-')}` }, `round ${c.round.round}: ${c.round.state}`) : '—',
        c.round?.detail ? el('div', { className: 'muted' }, c.round.detail) : null),
      el('td', {}, c.lastError ? el('span', { className: 'client-error' }, c.lastError.message) : '—',
        c.lastError ? el('div', { className: 'muted' }, `${c.lastError.round !== null ? `round ${c.lastError.round}, ` : ''}${fmtTime(c.lastError.at)}`) : null),
    )));
  });
  renderOnChange('tokens', tokens, () => {
    fillTable('tokens', tokens.map((t) => el('tr', {},
      el('td', {}, t.label ?? '—'),
      el('td', { className: 'mono', title: t.id }, short(t.id, 8)),
      el('td', { className: 'mono' }, t.clientId ?? 'not used yet'),
      el('td', { className: 'nowrap' }, fmtTime(t.createdAt)),
      el('td', {}, t.revokedAt ? el('span', { title: `revoked ${fmtTime(t.revokedAt)}` }, 'revoked') : 'active'),
      el('td', {}, t.revokedAt ? '' : el('button', {
        type: 'button', className: 'secondary small', 'aria-label': `Revoke token ${t.label ?? t.id}`,
        onclick: () => act('Revoking the token', () => api(fedPath(f.id, `/tokens/${encodeURIComponent(t.id)}`), { method: 'DELETE' })),
      }, 'Revoke')),
    )));
  });
}

function roundRow(f, r) {
  const m = r.metrics ?? {};
  const done = r.status === 'completed';
  const completed = r.contributors?.length ?? m.contributors;
  const dropped = isNum(m['agg.dropouts']) ? m['agg.dropouts'] : r.contributors ? r.participants.length - r.contributors.length : undefined;
  const duration = m.durationMs ?? (r.finishedAt ? r.finishedAt - r.startedAt : undefined);
  const bytes = isNum(m['agg.bytesIn']) || isNum(m['agg.bytesOut']) ? (m['agg.bytesIn'] ?? 0) + (m['agg.bytesOut'] ?? 0) : undefined;
  return el('tr', {},
    el('td', { className: 'num' }, String(r.round)),
    el('td', {}, statusBadge(r.status), r.reason ? el('div', { className: 'muted' }, r.reason) : null),
    el('td', { className: 'num' }, isNum(completed) ? `${completed} of ${r.participants.length}` : `– of ${r.participants.length}`),
    el('td', { className: 'num' }, isNum(dropped) ? String(dropped) : '—'),
    el('td', { className: 'num' }, fmt(firstOf(r, ['eval.loss', 'train.loss']))),
    el('td', { className: 'num' }, fmt(firstOf(r, ['eval.ndcg10', 'train.ndcg10']))),
    el('td', { className: 'num' }, fmt(firstOf(r, ['eval.auc', 'train.auc']))),
    el('td', { className: 'num' }, isNum(duration) ? fmtDuration(duration) : 'in progress'),
    el('td', { className: 'num' }, fmtBytes(bytes)),
    el('td', {}, aggregationLabel(f, r)),
    el('td', {}, done ? el('span', { className: 'downloads' },
      downloadButton(f.id, r.round, 'model.json'), ' ', downloadButton(f.id, r.round, 'weights.bin')) : '—'),
  );
}

/**
 * Saved files are named after the federation and round so that rounds do not overwrite each other; the
 * saved model.json names the saved weights file, so the pair still loads from one folder.
 */
const savedName = (fedId, round, file) => `${fedId}-round-${round}-${file}`;

function downloadButton(fedId, round, file) {
  return el('button', {
    type: 'button', className: 'link', 'aria-label': `Download ${file} of round ${round}`,
    onclick: () => act(`Downloading ${file} of round ${round}`, async () => {
      // The endpoint needs the bearer token, so a plain link cannot fetch it; hand the browser a blob instead.
      let blob = await api(fedPath(fedId, `/rounds/${round}/${file}`), { as: 'blob' });
      if (file === 'model.json') {
        const model = JSON.parse(await blob.text());
        for (const group of model.weightsManifest ?? []) {
          group.paths = group.paths.map((p) => (p === 'weights.bin' ? savedName(fedId, round, 'weights.bin') : p));
        }
        blob = new Blob([JSON.stringify(model)], { type: 'application/json' });
      }
      const url = URL.createObjectURL(blob);
      const a = el('a', { href: url, download: savedName(fedId, round, file) });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    }),
  }, file);
}

function renderMetricChoices(rounds) {
  const keys = metricKeys(rounds);
  const groups = metricChoices(keys);
  const offered = groups.flatMap((g) => g.options.map((o) => o.key));
  if (!offered.includes(state.metric)) state.metric = DEFAULT_METRICS.find((k) => offered.includes(k)) ?? offered[0] ?? '';
  const select = $('chart-metric');
  select.replaceChildren(...groups.map((g) => el('optgroup', { label: g.group },
    ...g.options.map((o) => el('option', { value: o.key, selected: o.key === state.metric }, o.hasBaseline ? `${o.label} (with baseline)` : o.label)))));
  select.disabled = offered.length === 0;
}

/** Why the federation is not training right now, in one line: waiting for clients, backing off, auto-paused. */
function federationNote(f) {
  const parts = [];
  if (f.statusReason) parts.push(f.statusReason);
  if (f.live?.waiting) parts.push(`${f.live.waiting.message[0].toUpperCase()}${f.live.waiting.message.slice(1)}.`);
  if (f.status === 'running' && isNum(f.live?.retryAt) && f.live.retryAt > Date.now()) {
    parts.push(`Backing off after ${f.live.consecutiveFailures} failed round(s): next round at ${fmtTime(f.live.retryAt).slice(11)}.`);
  }
  if (f.archivedAt) parts.push(`Archived ${fmtTime(f.archivedAt)}.`);
  return parts.join(' ');
}

/** Nice axis ticks (steps of 1, 2 or 5 × 10^k) covering [lo, hi]. */
function niceTicks(lo, hi, count = 5) {
  if (lo === hi) { const pad = Math.abs(lo) * 0.1 || 1; lo -= pad; hi += pad; }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((s) => s * mag).find((s) => s >= raw);
  const start = Math.floor(lo / step) * step;
  const end = Math.ceil(hi / step) * step;
  const ticks = [];
  for (let v = start; v <= end + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return { lo: start, hi: end, ticks };
}

function renderChart() {
  const key = state.metric;
  const series = (k) => state.rounds.filter((r) => r.status === 'completed')
    .map((r) => ({ round: r.round, value: metricOf(r, k) })).filter((p) => isNum(p.value));
  const points = series(key);
  const described = describeMetric(key);
  const label = described.title || key;
  const baseline = described.baselineKey ? series(described.baselineKey) : [];
  const legend = $('chart-legend');
  legend.hidden = baseline.length === 0;
  legend.replaceChildren(...(baseline.length ? [
    el('span', { className: 'key key-model' }, 'federated model'), ' ',
    el('span', { className: 'key key-baseline' }, 'non-learned baseline on the same users (popularity, most recent category, majority tier)'),
  ] : []));
  // Drawn at the width it is shown at, so the 12 px labels stay 12 px on a phone.
  const W = Math.round(Math.min(900, Math.max(300, $('chart').clientWidth || 720))), H = 260, L = 64, R = 20, T = 16, B = 40;
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title' });
  const title = points.length
    ? `${label} by round: ${points.map((p) => `round ${p.round} ${fmt(p.value)}`).join(', ')}`
      + (baseline.length ? `; baseline: ${baseline.map((p) => `round ${p.round} ${fmt(p.value)}`).join(', ')}` : '')
    : 'No completed round has this metric yet';
  chart.append(svg('title', { id: 'chart-title' }, title));
  if (points.length === 0) {
    chart.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'chart-empty' }, 'No completed rounds with metrics yet'));
    $('chart').replaceChildren(chart);
    return;
  }
  const all = [...points, ...baseline];
  const y = niceTicks(Math.min(...all.map((p) => p.value)), Math.max(...all.map((p) => p.value)));
  const first = Math.min(...all.map((p) => p.round)), last = Math.max(...all.map((p) => p.round));
  const x0 = first === last ? first - 1 : first, x1 = first === last ? last + 1 : last;
  const sx = (r) => L + ((r - x0) / (x1 - x0)) * (W - L - R);
  const sy = (v) => T + (1 - (v - y.lo) / (y.hi - y.lo)) * (H - T - B);
  for (const t of y.ticks) {
    chart.append(svg('line', { x1: L, x2: W - R, y1: sy(t), y2: sy(t), class: 'grid' }));
    chart.append(svg('text', { x: L - 8, y: sy(t) + 4, 'text-anchor': 'end', class: 'tick' }, fmt(t)));
  }
  const xStep = Math.max(1, Math.ceil((x1 - x0) / 10));
  for (let r = Math.ceil(x0); r <= x1; r += xStep) {
    chart.append(svg('text', { x: sx(r), y: H - B + 18, 'text-anchor': 'middle', class: 'tick' }, String(r)));
  }
  chart.append(svg('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis' }));
  chart.append(svg('text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle', class: 'axis-label' }, 'round'));
  if (baseline.length) {
    chart.append(svg('polyline', { points: baseline.map((p) => `${sx(p.round)},${sy(p.value)}`).join(' '), class: 'line baseline' }));
  }
  chart.append(svg('polyline', { points: points.map((p) => `${sx(p.round)},${sy(p.value)}`).join(' '), class: 'line' }));
  for (const p of points) {
    chart.append(svg('circle', { cx: sx(p.round), cy: sy(p.value), r: 4, class: 'point' },
      svg('title', {}, `round ${p.round}: ${fmt(p.value)}`)));
  }
  $('chart').replaceChildren(chart);
}

// ---------- wiring ----------

function selectedFromHash() {
  const m = /^#fed=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : '';
}

function forgetToken() {
  stopPolling();
  state.token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  state.rendered.clear();
  fillTable('federations', []);
  $('federations-empty').textContent = 'Connect with the admin token to list federations.';
  $('federation').hidden = true;
  setConnection('Not connected');
}

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $('admin-token');
  const token = input.value.trim();
  if (!token) return;
  input.value = '';
  forgetToken();
  clearBanner();
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  setConnection('Connecting…');
  startPolling();
});

$('forget-token').addEventListener('click', () => { forgetToken(); clearBanner(); });
$('banner-close').addEventListener('click', () => clearBanner());

$('issue-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = state.federation;
  if (!f) return;
  const label = $('token-label').value.trim();
  const issued = await act('Issuing a token', () => api(fedPath(f.id, '/tokens'), { method: 'POST', body: label ? { label } : {} }));
  if (!issued) return;
  $('token-label').value = '';
  $('new-token-label').textContent = issued.label ?? 'an unlabelled client';
  $('new-token-value').value = issued.token;
  $('new-token').hidden = false;
  $('new-token-value').select();
});

for (const button of document.querySelectorAll('.controls button')) {
  button.addEventListener('click', () => {
    const f = state.federation;
    const action = button.dataset.action;
    if (!f) return;
    if (action === 'stop' && !confirm(`Stop federation "${f.name}"? A stopped federation cannot be resumed.`)) return;
    if (action === 'delete') {
      if (!confirm(`Delete federation "${f.name}" with all its rounds, clients, tokens and models? This cannot be undone.`)) return;
      void act('Delete federation', async () => {
        const r = await api(fedPath(f.id), { method: 'DELETE' });
        state.selected = '';
        history.replaceState(null, '', location.pathname + location.search);
        return r;
      });
      return;
    }
    void act(`${action[0].toUpperCase()}${action.slice(1)} federation`, () => api(fedPath(f.id, `/${action}`), { method: 'POST' }));
  });
}

$('show-archived').addEventListener('change', (ev) => {
  state.showArchived = ev.target.checked;
  void refresh();
});

/** Reads the create form into a federation config; a malformed model JSON is reported, not sent. */
function createConfig() {
  const num = (id) => Number($(id).value);
  let model;
  try {
    model = JSON.parse($('create-model').value);
  } catch (e) {
    throw new Error(`the model config is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  return {
    name: $('create-name').value.trim(), rounds: num('create-rounds'), model,
    strategy: { name: $('create-strategy').value, clientsPerRound: num('create-clients'), minFitClients: num('create-quorum') },
    ...($('create-secagg').checked ? { secureAggregation: {} } : {}),
  };
}

$('create-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const created = await act('Creating the federation', () => api('federations', { method: 'POST', body: createConfig() }));
  if (!created) return;
  $('create-name').value = '';
  $('create').open = false;
  location.hash = `#fed=${encodeURIComponent(created.id)}`;
});

let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (state.federation) renderChart(); }, 150);
});

$('chart-metric').addEventListener('change', (ev) => {
  state.metric = ev.target.value;
  renderChart();
});

window.addEventListener('hashchange', () => {
  state.selected = selectedFromHash();
  $('new-token').hidden = true;
  state.rendered.clear();
  void refresh();
});

if (state.token) startPolling();
