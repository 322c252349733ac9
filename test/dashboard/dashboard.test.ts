import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { pino } from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CheckpointStore } from '../../coordinator/checkpoints.js';
import { dashboardRouter } from '../../coordinator/dashboard/router.js';
import { startCoordinator, type RunningCoordinator } from '../../coordinator/server.js';
import type { ModelConfig } from '../../shared/model/config.js';
import { rawSocket } from '../runtime/fixtures/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const ADMIN_TOKEN = 'dashboard-test-admin-token-0123456789';
const FEDERATION_NAME = 'Berlin merchants <pilot>';
const SCREENSHOT = join(tmpdir(), 'fedprofile-dashboard.png');
const SCREENSHOT_NARROW = join(tmpdir(), 'fedprofile-dashboard-420.png');

/** Small enough that round-0 initialisation takes well under a second. */
const TINY_MODEL: ModelConfig = {
  itemVocab: 64, categoryVocab: 6, priceBuckets: 4, gapBuckets: 4, textVocab: 0, textTokens: 0, useActions: true,
  maxLen: 8, dModel: 8, layers: 1, heads: 2, ffDim: 16, dropout: 0, numTiers: 2,
};

interface Served { base: string; close(): Promise<void> }

/**
 * Serves the page on a loopback port. If the coordinator already mounts the dashboard, it is used as-is;
 * otherwise a front server mounts dashboardRouter() and forwards everything else to the coordinator, so
 * the page and /api/v1 share one origin exactly as in production.
 */
async function serveDashboard(coordinatorUrl: string): Promise<Served> {
  const probe = await fetch(`${coordinatorUrl}/dashboard/`);
  if (probe.ok && (probe.headers.get('content-type') ?? '').includes('text/html')) {
    return { base: `${coordinatorUrl}/dashboard/`, close: async () => {} };
  }
  const app = express();
  app.use('/dashboard', dashboardRouter());
  app.use((req, res) => {
    const upstream = request(`${coordinatorUrl}${req.originalUrl}`, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', (e) => { res.status(502).end(String(e)); });
    req.pipe(upstream);
  });
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}/dashboard/`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

describe('operator dashboard in a real browser', function () {
  this.timeout(30_000);
  let dataDir = '';
  let coordinator: RunningCoordinator | undefined;
  let served: Served | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let fedId = '';
  const offOrigin: string[] = [];
  const consoleErrors: string[] = [];

  const adminApi = async (path: string, init: RequestInit = {}): Promise<unknown> => {
    const res = await fetch(`${coordinator!.url}/api/v1${path}`, {
      ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...init.headers },
    });
    const body: unknown = await res.json();
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path} -> ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
  const textOf = async (selector: string): Promise<string> => (await page.locator(selector).innerText()).trim();

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`      skipped: ${CHROMIUM} is not installed (apt-get install -y chromium)`);
      this.skip();
    }
    dataDir = mkdtempSync(join(tmpdir(), 'fedprofile-dashboard-'));
    coordinator = await startCoordinator({ port: 0, dataDir, adminToken: ADMIN_TOKEN, logger: pino({ level: 'silent' }) });
    const created = await adminApi('/federations', {
      method: 'POST',
      body: JSON.stringify({ name: FEDERATION_NAME, model: TINY_MODEL, rounds: 5, strategy: { name: 'fedadam', clientsPerRound: 3 } }),
    }) as { id: string };
    fedId = created.id;
    await recordRounds(coordinator, dataDir, fedId);
    served = await serveDashboard(coordinator.url);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    const origin = new URL(served.base).origin;
    page.on('request', (r) => { if (!r.url().startsWith(origin) && !/^(data|blob):/.test(r.url())) offOrigin.push(r.url()); });
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    page.on('dialog', (d) => { void d.accept(); });
  });

  after(async () => {
    await browser?.close();
    await served?.close();
    await coordinator?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('redirects /dashboard to /dashboard/ and sends a locked-down content security policy', async () => {
    const bare = served!.base.replace(/\/$/, '');
    const res = await fetch(bare, { redirect: 'manual' });
    expect(res.status).to.equal(301);
    expect(new URL(res.headers.get('location')!, bare).pathname).to.equal('/dashboard/');
    const page200 = await fetch(served!.base);
    expect(page200.status).to.equal(200);
    expect(page200.headers.get('content-security-policy')).to.include("default-src 'none'").and.include("connect-src 'self'");
  });

  it('shows a readable banner when the admin token is wrong, and keeps it out of the URL', async () => {
    await page.goto(served!.base);
    await page.getByLabel('Admin token').fill('not-the-admin-token-at-all');
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.locator('#banner').waitFor({ state: 'visible' });
    expect(await textOf('#banner-text')).to.equal('The admin token was rejected (403). Paste a valid admin token and connect again.');
    expect(await textOf('#connection')).to.equal('Not connected: token rejected');
    expect(page.url()).not.to.include('not-the-admin-token');
    expect(await page.evaluate(() => localStorage.length)).to.equal(0);
  });

  it('lists the federation with its status once the right token is entered', async () => {
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Connect' }).click();
    const row = page.locator('#federations tbody tr', { hasText: FEDERATION_NAME });
    await row.waitFor();
    await page.locator('#banner').waitFor({ state: 'hidden' });
    const cells = (await row.locator('td').allInnerTexts()).map((s) => s.trim());
    expect(cells[0]).to.equal(`${FEDERATION_NAME}\n${fedId}`);
    expect(cells.slice(1)).to.deep.equal(['created', 'idle', '2 / 5', '0', 'FedAdam']);
    expect(await page.locator('pilot').count(), 'API text is never parsed as HTML').to.equal(0);
    expect(await page.evaluate(() => sessionStorage.getItem('fedprofile.adminToken'))).to.equal(ADMIN_TOKEN);
  });

  it('shows the round table, the metric chart and the clients of a federation', async () => {
    await page.getByRole('link', { name: FEDERATION_NAME }).click();
    await page.locator('#rounds tbody tr').nth(2).waitFor();
    expect(await textOf('#federation-title')).to.equal(FEDERATION_NAME);
    const rows = await page.locator('#rounds tbody tr').evaluateAll((trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => (td as HTMLElement).innerText.trim())));
    // Newest first.
    expect(rows[0]).to.deep.equal(['3', 'failed\nquorum not reached: 1 of 2 results', '– of 2', '—', '—', '—', '—', '30 s', '—', 'plain', '—']);
    expect(rows[1]).to.deep.equal(['2', 'completed', '3 of 4', '1', '2.1', '0.28', '0.66', '1.5 s', '6 KB', 'SecAgg+ · 0.12% clipped · 20-bit', 'model.json weights.bin']);
    expect(rows[2]).to.deep.equal(['1', 'completed', '2 of 3', '1', '2.31', '0.2345', '0.61', '1.2 s', '2 KB', 'plain', 'model.json weights.bin']);
    // A model-quality metric is shown first, drawn against its baseline.
    expect(await page.locator('#chart-metric').inputValue()).to.equal('eval.ndcg10');
    expect(await page.locator('#chart svg circle').count()).to.equal(2);
    expect(await page.locator('#chart svg title#chart-title').textContent())
      .to.equal('NDCG@10 (evaluation) by round: round 1 0.2345, round 2 0.28; baseline: round 1 0.2, round 2 0.21');
    expect(await page.locator('#chart svg polyline.baseline').getAttribute('points')).to.match(/^[\d.]+,[\d.]+ [\d.]+,[\d.]+$/);
    expect(await page.locator('#chart-legend').isVisible()).to.equal(true);
    await page.locator('#chart-metric').selectOption('eval.loss');
    expect(await page.locator('#chart svg title#chart-title').textContent()).to.equal('Next-item loss (evaluation) by round: round 1 2.31, round 2 2.1');
    expect(await page.locator('#chart svg polyline.baseline').count(), 'no baseline for loss in these rounds').to.equal(0);
    expect(await page.locator('#chart-legend').isHidden()).to.equal(true);
    await page.locator('#chart-metric').selectOption('eval.auc');
    expect(await page.locator('#chart svg title#chart-title').textContent())
      .to.equal('Purchase AUC (evaluation) by round: round 1 0.61, round 2 0.66; baseline: round 1 0.55, round 2 0.55');
    const client = (await page.locator('#clients tbody tr').allInnerTexts())[0]!;
    expect(client).to.include('merchant-a').and.include('offline');
  });

  it('offers metrics in labelled groups, never as raw keys, with baselines folded into their metric', async () => {
    const groups = await page.locator('#chart-metric optgroup').evaluateAll((gs) =>
      gs.map((g) => ({ group: g.getAttribute('label'), options: Array.from(g.querySelectorAll('option')).map((o) => o.textContent) })));
    expect(groups).to.deep.equal([
      { group: 'Model quality (federated evaluation)', options: ['NDCG@10 (with baseline)', 'Next-item loss', 'Purchase AUC (with baseline)'] },
      { group: 'Training (reported by clients)', options: ['Next-item loss'] },
      { group: 'Validation (reported by clients)', options: ['NDCG@10'] },
      { group: 'Round', options: ['Clients aggregated', 'Clients selected', 'Round duration (ms)'] },
      { group: 'Aggregation', options: ['Bit width', 'Bytes in', 'Bytes out', 'Clipped fraction', 'Dropouts'] },
      { group: 'Server optimizer', options: ['Update norm'] },
    ]);
    const texts = groups.flatMap((g) => g.options);
    expect(texts.filter((t) => /[._]/.test(t ?? '')), 'no raw metric keys').to.deep.equal([]);
  });

  it('issues and revokes an enrolment token through the page', async () => {
    await page.getByLabel('Label').fill('merchant-hamburg');
    await page.getByRole('button', { name: 'Issue token' }).click();
    await page.locator('#new-token').waitFor({ state: 'visible' });
    const plain = await page.locator('#new-token-value').inputValue();
    expect(plain).to.match(/^fpt_[A-Za-z0-9_-]{32}$/);
    const { tokens } = await adminApi(`/federations/${fedId}/tokens`) as { tokens: Array<{ id: string; label: string | null; revokedAt: number | null }> };
    const issued = tokens.find((t) => t.label === 'merchant-hamburg');
    expect(issued, 'token issued through the page is listed by the API').to.not.equal(undefined);
    expect(issued!.revokedAt).to.equal(null);
    await page.getByRole('button', { name: 'Revoke token merchant-hamburg' }).click();
    await page.locator('#tokens tbody tr', { hasText: 'merchant-hamburg' }).getByText('revoked', { exact: true }).waitFor();
    const after = await adminApi(`/federations/${fedId}/tokens`) as { tokens: Array<{ id: string; revokedAt: number | null }> };
    expect(after.tokens.find((t) => t.id === issued!.id)!.revokedAt).to.be.a('number');
  });

  it('starts and pauses the federation, and reports a refused action in the banner', async () => {
    const status = page.locator('#federation-status');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await status.getByText('running', { exact: true }).waitFor();
    expect((await adminApi(`/federations/${fedId}`) as { status: string }).status).to.equal('running');
    await page.getByRole('button', { name: 'Pause' }).click();
    await status.getByText('paused', { exact: true }).waitFor();
    expect((await adminApi(`/federations/${fedId}`) as { status: string }).status).to.equal('paused');
    expect(await page.getByRole('button', { name: 'Pause' }).isDisabled()).to.equal(true);
    // A refused transition (pausing a paused federation) comes back as a 409 and is shown verbatim.
    await page.evaluate(() => { document.querySelectorAll<HTMLButtonElement>('.controls button').forEach((b) => { b.disabled = false; }); });
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.locator('#banner').waitFor({ state: 'visible' });
    expect(await textOf('#banner-text')).to.equal('Pause federation failed (409): cannot pause a federation that is paused');
  });

  it('downloads a round\'s model as a pair that still finds its weights after the rename', async () => {
    const { readFileSync, copyFileSync, existsSync: exists } = await import('node:fs');
    const folder = mkdtempSync(join(tmpdir(), 'fedprofile-download-'));
    try {
      for (const file of ['model.json', 'weights.bin']) {
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          page.getByRole('button', { name: `Download ${file} of round 1` }).click(),
        ]);
        expect(download.suggestedFilename()).to.equal(`${fedId}-round-1-${file}`);
        copyFileSync(await download.path(), join(folder, download.suggestedFilename()));
      }
      const saved = JSON.parse(readFileSync(join(folder, `${fedId}-round-1-model.json`), 'utf8')) as { weightsManifest: Array<{ paths: string[] }> };
      const served = await adminApi(`/federations/${fedId}/rounds/1/model.json`) as { weightsManifest: Array<{ paths: string[] }> };
      // Only the weights path differs from what the API serves, and it names the file saved beside it.
      expect(saved.weightsManifest.map((g) => g.paths)).to.deep.equal([[`${fedId}-round-1-weights.bin`]]);
      expect({ ...saved, weightsManifest: saved.weightsManifest.map((g) => ({ ...g, paths: ['weights.bin'] })) }).to.deep.equal(served);
      const weightsPath = join(folder, saved.weightsManifest[0]!.paths[0]!);
      expect(exists(weightsPath)).to.equal(true);
      const res = await fetch(`${coordinator!.url}/api/v1/federations/${fedId}/rounds/1/weights.bin`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(Buffer.compare(readFileSync(weightsPath), Buffer.from(await res.arrayBuffer()))).to.equal(0);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('comes back after a reload from the session token, loading nothing from outside its origin', async () => {
    expect(await page.locator('#banner').isHidden(), 'a successful action clears the previous error').to.equal(true);
    await page.reload();
    await page.locator('#rounds tbody tr').nth(2).waitFor();
    expect(await page.locator('#new-token').isHidden(), 'an issued token is shown once, never again').to.equal(true);
    expect(await page.getByRole('button', { name: 'Resume' }).isEnabled()).to.equal(true);
    expect(await page.getByRole('button', { name: 'Pause' }).isDisabled()).to.equal(true);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(offOrigin).to.deep.equal([]);
    // The only console errors allowed are the browser's own notes about the deliberately failed requests.
    expect(consoleErrors.filter((e) => !/status of (403|409)/.test(e))).to.deep.equal([]);
  });

  let pilotId = '';

  it('creates a federation from the form, and shows the API\'s reason when a config is refused', async () => {
    await page.getByText('New federation').click();
    await page.getByRole('textbox', { name: 'Name' }).fill('Hamburg pilot');
    await page.getByRole('spinbutton', { name: 'Rounds' }).fill('2');
    await page.getByRole('spinbutton', { name: 'Clients per round' }).fill('2');
    await page.getByRole('spinbutton', { name: 'Quorum (minimum clients)' }).fill('2');
    expect(await page.getByLabel(/Secure aggregation/).isChecked()).to.equal(true);
    await page.getByRole('button', { name: 'Create federation' }).click();
    await page.locator('#banner').waitFor({ state: 'visible' });
    expect(await textOf('#banner-text')).to.match(/^Creating the federation failed \(400\): invalid federation config: strategy\.minFitClients: secure aggregation needs at least 3 clients per round/);
    await page.getByLabel('Model (JSON)').fill('{"itemVocab": ');
    await page.getByRole('button', { name: 'Create federation' }).click();
    await page.locator('#banner-text', { hasText: 'not valid JSON' }).waitFor();
    expect(await textOf('#banner-text')).to.match(/^Creating the federation failed: the model config is not valid JSON/);
    await page.getByLabel(/Secure aggregation/).uncheck();
    await page.getByLabel('Model (JSON)').fill(JSON.stringify(TINY_MODEL));
    await page.getByRole('button', { name: 'Create federation' }).click();
    await page.locator('#federation-title', { hasText: 'Hamburg pilot' }).waitFor();
    pilotId = decodeURIComponent(/#fed=(.+)$/.exec(page.url())![1]!);
    const created = await adminApi(`/federations/${pilotId}`) as { name: string; status: string; config: { rounds: number; strategy: { clientsPerRound: number; minFitClients: number }; secureAggregation?: unknown } };
    expect(created).to.deep.include({ name: 'Hamburg pilot', status: 'created' });
    expect(created.config.rounds).to.equal(2);
    expect(created.config.strategy).to.include({ clientsPerRound: 2, minFitClients: 2 });
    expect(created.config.secureAggregation).to.equal(undefined);
    expect(await page.locator('#banner').isHidden()).to.equal(true);
  });

  it('says what the federation waits for, and shows each client\'s state in the round and its reported error', async () => {
    const tokens = await Promise.all(['a', 'b'].map(async (l) => (await adminApi(`/federations/${pilotId}/tokens`, { method: 'POST', body: JSON.stringify({ label: l }) }) as { token: string }).token));
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.locator('#federation-status').getByText('running', { exact: true }).waitFor();
    const a = await rawSocket(coordinator!.url, tokens[0]!);
    const b = await (async () => {
      await page.locator('#federation-note', { hasText: 'Waiting for 2 clients, 1 online.' }).waitFor();
      expect(await page.locator('#federations tbody tr', { hasText: 'Hamburg pilot' }).locator('td').nth(2).innerText()).to.equal('idle: waiting for 2 clients, 1 online');
      return rawSocket(coordinator!.url, tokens[1]!);
    })();
    try {
      await page.locator('#federation-note').waitFor({ state: 'hidden' });
      const states = page.locator('#clients tbody tr td:nth-child(5)');
      await page.locator('#clients tbody tr', { hasText: 'round 1: training' }).nth(1).waitFor();
      expect((await states.allInnerTexts()).map((t) => t.trim())).to.deep.equal(['round 1: training', 'round 1: training']);
      a.peer.send({ type: 'fit-failed', round: 1, reason: 'cannot read /srv/a/events.jsonl: no such file' });
      const rowA = page.locator('#clients tbody tr', { hasText: 'round 1: failed' });
      await rowA.waitFor();
      const cells = (await rowA.locator('td').allInnerTexts()).map((t) => t.trim());
      expect(cells[4]).to.equal('round 1: failed\ncannot read /srv/a/events.jsonl: no such file');
      expect(cells[5]).to.match(/^cannot read \/srv\/a\/events\.jsonl: no such file\nround 1, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      const { clients } = await adminApi(`/federations/${pilotId}/clients`) as { clients: Array<{ lastSeenAt: number; lastError: { message: string } | null; createdAt: number }> };
      const failed = clients.find((c) => c.lastError)!;
      expect(failed.lastSeenAt).to.be.at.least(failed.createdAt);
      expect(cells[3]).to.match(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    } finally {
      a.close();
      b.close();
    }
    await adminApi(`/federations/${pilotId}/stop`, { method: 'POST' });
    await page.locator('#federation-status').getByText('stopped', { exact: true }).waitFor();
  });

  it('archives, lists archived federations on request, and deletes a federation from the page', async () => {
    await page.getByRole('button', { name: 'Archive', exact: true }).click();
    await page.locator('#federation-note', { hasText: 'Archived' }).waitFor();
    expect(await page.getByRole('button', { name: 'Unarchive' }).isVisible()).to.equal(true);
    expect(await page.getByRole('button', { name: 'Archive', exact: true }).isHidden()).to.equal(true);
    expect((await adminApi(`/federations/${pilotId}`) as { archivedAt: number | null }).archivedAt).to.be.a('number');
    // Another federation selected: the archived one leaves the list until "Show archived" is ticked.
    await page.getByRole('link', { name: FEDERATION_NAME }).click();
    const pilotRow = page.locator('#federations tbody tr', { hasText: 'Hamburg pilot' });
    await pilotRow.waitFor({ state: 'detached' });
    await page.getByLabel('Show archived').check();
    await pilotRow.waitFor();
    expect(await pilotRow.locator('.status-archived').innerText()).to.equal('archived');
    await pilotRow.getByRole('link', { name: 'Hamburg pilot' }).click();
    await page.locator('#federation-title', { hasText: 'Hamburg pilot' }).waitFor();
    await page.getByRole('button', { name: 'Delete' }).click(); // the confirm dialog is accepted
    await pilotRow.waitFor({ state: 'detached' });
    expect(await page.locator('#federation').isHidden()).to.equal(true);
    const res = await fetch(`${coordinator!.url}/api/v1/federations/${pilotId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).to.equal(404);
    await page.getByLabel('Show archived').uncheck();
  });

  it('shows why the coordinator paused a federation after failed rounds', async () => {
    const { id } = await adminApi('/federations', {
      method: 'POST',
      body: JSON.stringify({
        name: 'Flaky pilot', model: TINY_MODEL, rounds: 1, strategy: { clientsPerRound: 2, minFitClients: 2 },
        deadlines: { trainMs: 100 }, failurePolicy: { backoffMs: 0, maxBackoffMs: 0, maxConsecutiveFailures: 1 },
      }),
    }) as { id: string };
    const tokens = await Promise.all(['x', 'y'].map(async (l) => (await adminApi(`/federations/${id}/tokens`, { method: 'POST', body: JSON.stringify({ label: l }) }) as { token: string }).token));
    await adminApi(`/federations/${id}/start`, { method: 'POST' });
    const sockets = [await rawSocket(coordinator!.url, tokens[0]!), await rawSocket(coordinator!.url, tokens[1]!)];
    try {
      // Nobody trains: the round misses its 100 ms deadline, and one failure is the limit here.
      const deadline = Date.now() + 10_000;
      let status = '';
      while (status !== 'paused' && Date.now() < deadline) {
        status = (await adminApi(`/federations/${id}`) as { status: string }).status;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(status).to.equal('paused');
      await page.goto(`${served!.base}#fed=${encodeURIComponent(id)}`);
      const note = page.locator('#federation-note', { hasText: 'paused after 1 consecutive failed round;' });
      await note.waitFor();
      const noteText = await note.innerText();
      expect(noteText, noteText).to.match(/^paused after 1 consecutive failed round; last failure: quorum not reached: 0 of 2 required updates before the deadline\. Fix the cause/);
      const row = page.locator('#federations tbody tr', { hasText: 'Flaky pilot' });
      expect(await row.locator('td').nth(1).innerText()).to.match(/^paused\npaused after 1 consecutive failed round;/);
      expect(await page.getByRole('button', { name: 'Resume' }).isEnabled()).to.equal(true);
    } finally {
      for (const s of sockets) s.close();
    }
  });

  it('shows the privacy spent and the robust rule of a federation', async () => {
    const { id } = await adminApi('/federations', {
      method: 'POST',
      body: JSON.stringify({
        name: 'Private pilot', model: TINY_MODEL, rounds: 3, strategy: { clientsPerRound: 4, minFitClients: 2 },
        dp: { enabled: true, mode: 'central', clipNorm: 0.5, noiseMultiplier: 1.1, epsilonBudget: 8 }, robustAggregation: { rule: 'norm-bound', maxNorm: 2 },
      }),
    }) as { id: string };
    await page.goto(`${served!.base}#fed=${encodeURIComponent(id)}`);
    const item = (label: string) => page.locator('#federation-summary div', { has: page.locator('dt', { hasText: label }) }).locator('dd');
    // The summary may still show the previously viewed federation (a hash change re-renders it): wait for this one's.
    await item('Privacy').filter({ hasText: 'ε' }).waitFor();
    expect(await item('Privacy').innerText()).to.equal('ε 0.000 of 8 (δ 0.00001, central, z 1.1, C 0.5)');
    expect(await item('Robust rule').innerText()).to.equal('norm-bound');
  });

  it('fits a 420 px wide screen: no sideways scrolling, the chart and controls inside the viewport', async () => {
    const narrow = await browser!.newContext({ viewport: { width: 420, height: 900 } });
    try {
      await narrow.addInitScript((token) => { sessionStorage.setItem('fedprofile.adminToken', token); }, ADMIN_TOKEN);
      const p = await narrow.newPage();
      await p.goto(`${served!.base}#fed=${encodeURIComponent(fedId)}`);
      await p.locator('#rounds tbody tr').nth(2).waitFor();
      await p.locator('#chart svg circle').first().waitFor();
      // No helper functions inside evaluate(): the test transpiler would wrap them in a helper the page lacks.
      const [chart, picker, card] = await p.evaluate(() => ['#chart svg', '#chart-metric', '#federation']
        .map((sel) => document.querySelector(sel)!.getBoundingClientRect()).map((r) => ({ left: r.left, right: r.right, width: r.width })));
      const layout = {
        scrollWidth: await p.evaluate(() => document.documentElement.scrollWidth), chart: chart!, picker: picker!, card: card!,
        controls: await p.locator('.controls button:not([hidden])').evaluateAll((bs) => bs.map((b) => b.getBoundingClientRect().right)),
      };
      expect(layout.scrollWidth, 'page width').to.be.at.most(420);
      expect(layout.card.right).to.be.at.most(420);
      expect(layout.chart.left).to.be.at.least(0);
      expect(layout.chart.right).to.be.at.most(420);
      expect(layout.chart.width, 'the chart uses the width it has').to.be.above(330);
      expect(layout.picker.right).to.be.at.most(420);
      for (const right of layout.controls) expect(right).to.be.at.most(420);
      await p.getByText('New federation').click();
      const formRight = await p.locator('#create-form').evaluate((f) => f.getBoundingClientRect().right);
      expect(formRight).to.be.at.most(420);
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).to.be.at.most(420);
      await p.screenshot({ path: SCREENSHOT_NARROW, fullPage: true });
    } finally {
      await narrow.close();
    }
  });
});

/**
 * Writes two completed rounds and one failed one with the store and checkpoint calls the runtime makes when
 * it commits, plus one enrolled client, so the page has real rows to show without minutes of training.
 */
async function recordRounds(coordinator: RunningCoordinator, dataDir: string, fedId: string): Promise<void> {
  const { store } = coordinator;
  const checkpoints = new CheckpointStore(dataDir);
  const initial = await checkpoints.load(fedId, 0);
  const commit = async (round: number, participants: string[], contributors: string[], metrics: Record<string, number>, evalMetrics: Record<string, number>) => {
    const t0 = 1_700_000_000_000 + round * 60_000;
    store.startRound(fedId, round, participants, t0);
    const hash = await checkpoints.save(fedId, round, { modelConfig: initial.modelConfig, manifest: initial.manifest, values: initial.values });
    store.completeRound({ federationId: fedId, round, contributors, modelHash: hash, metrics, strategyState: null }, t0 + (metrics.durationMs ?? 0));
    store.setEvalMetrics(fedId, round, evalMetrics);
  };
  await commit(1, ['c_a', 'c_b', 'c_c'], ['c_a', 'c_b'],
    { 'train.loss': 2.9, 'train.val_ndcg10': 0.2, durationMs: 1200, participants: 3, contributors: 2, 'agg.bytesIn': 2048, 'server.updateNorm': 0.5 },
    { loss: 2.31, ndcg10: 0.2345, auc: 0.61, baseline_ndcg10: 0.2, baseline_auc: 0.55 });
  await commit(2, ['c_a', 'c_b', 'c_c', 'c_d'], ['c_a', 'c_b', 'c_c'],
    { 'train.loss': 2.6, 'train.val_ndcg10': 0.25, durationMs: 1500, participants: 4, contributors: 3, 'agg.bytesIn': 4096, 'agg.bytesOut': 2048,
      'agg.dropouts': 1, 'agg.clippedFraction': 0.0012, 'agg.bitWidth': 20, 'server.updateNorm': 0.4 },
    { loss: 2.1, ndcg10: 0.28, auc: 0.66, baseline_ndcg10: 0.21, baseline_auc: 0.55 });
  store.startRound(fedId, 3, ['c_a', 'c_b'], 1_700_000_000_000 + 3 * 60_000);
  store.failRound(fedId, 3, 'quorum not reached: 1 of 2 results', 1_700_000_000_000 + 3 * 60_000 + 30_000);
  const token = store.issueToken(fedId, 'merchant-a');
  store.enrolClient(token.id, Buffer.alloc(32, 7).toString('base64'), 'merchant-a');
}
