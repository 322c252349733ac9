import { expect } from 'chai';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { runFuzz, type FuzzReport } from '../../simulations/bench/fuzz-harness.js';
import { MESSAGE_EVENT } from '../../shared/protocol/version.js';
import { TINY_MODEL } from '../runtime/fixtures/least-squares-trainer.js';
import { ADMIN, createFederation, issueToken, rawSocket, removeDir, startTestCoordinator, tempDir, waitFor } from '../runtime/fixtures/harness.js';

/**
 * ~2,000 fuzz messages of every class against an in-process coordinator while two honest clients run
 * rounds. The coordinator shares this process with the attackers, so the loop delay measured here is an
 * upper bound on its own (npm run bench:fuzz measures a separate coordinator process).
 */
describe('fuzz: no input crashes, poisons or exhausts the coordinator', function () {
  this.timeout(120_000);
  let dir: string;
  let coord: RunningCoordinator;
  let report: FuzzReport;
  let unhandled = 0;
  let uncaught = 0;
  const onUnhandled = (): void => { unhandled++; };
  const onUncaught = (): void => { uncaught++; };
  const loop = monitorEventLoopDelay({ resolution: 10 });
  let rssBefore = 0;

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtExceptionMonitor', onUncaught);
    dir = tempDir('fuzz');
    coord = await startTestCoordinator(dir);
    rssBefore = process.memoryUsage().rss;
    loop.enable();
    report = await runFuzz({ url: coord.url, adminToken: ADMIN, messages: 2000, seed: 7, workDir: dir });
    loop.disable();
    if (process.env.FEDPROFILE_FUZZ_REPORT) {
      process.stderr.write(`${JSON.stringify({ ...report, loopP99Ms: loop.percentile(99) / 1e6, loopMaxMs: loop.max / 1e6 })}\n`);
    }
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtExceptionMonitor', onUncaught);
    await coord.close();
    removeDir(dir);
  });

  it('covers every attack class', () => {
    expect(report.messages).to.equal(2000);
    for (const cls of ['amplification', 'overlapping-refs', 'poisoned-update', 'chunk-oversize', 'deep-nesting', 'proto-key']) {
      expect(report.byClass[cls] ?? 0, cls).to.be.greaterThan(50);
    }
    expect(Object.keys(report.byClass).filter((k) => k.startsWith('http:'))).to.have.length(7);
    expect(Object.keys(report.byClass).filter((k) => k.startsWith('handshake:')).length).to.be.at.least(3);
  });

  it('answers every bad socket message with an error, and no bad handshake logs in', () => {
    expect(report.answered).to.equal(report.socketMessages);
    expect(report.handshakesAccepted).to.equal(0);
  });

  it('never answers a bad HTTP request with a 5xx', () => {
    expect(report.http5xx, JSON.stringify(report.httpStatuses)).to.equal(0);
  });

  it('has no crash and no unhandled rejection; the coordinator still serves', async () => {
    expect(unhandled).to.equal(0);
    expect(uncaught).to.equal(0);
    expect((await fetch(`${coord.url}/healthz`)).status).to.equal(200);
  });

  it('keeps memory and the event loop in budget (no stall above 200 ms at p99)', () => {
    const rssDeltaMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    expect(rssDeltaMb).to.be.below(300);
    expect(loop.percentile(99) / 1e6).to.be.below(200);
  });

  it('a flood from one connection is refused unparsed once over its decode budget, and every message is answered', async () => {
    const fed = await createFederation(coord.url, { name: 'flood', model: TINY_MODEL, rounds: 1 });
    const s = await rawSocket(coord.url, await issueToken(coord.url, fed));
    const junk = new Uint8Array(128 * 1024).fill(7); // 128 KB of non-messages, 100 times = 12.8 MB at once
    for (let i = 0; i < 100; i++) s.socket.emit(MESSAGE_EVENT, junk);
    const errors = await waitFor('100 answers', () => {
      const e = s.received.filter((m) => m.type === 'error') as Array<{ code: string; message: string }>;
      return e.length >= 100 ? e : undefined;
    });
    const overBudget = errors.filter((e) => /decode budget exceeded/.test(e.message)).length;
    const parsed = errors.filter((e) => /wrong magic number/.test(e.message)).length;
    // ~3 MB burst + 4 MB/s: about 25 are decoded (and refused as garbage), the rest (when they arrive within
    // a second or so, as on loopback) are refused before parsing.
    expect(parsed + overBudget).to.equal(100);
    expect(overBudget).to.be.greaterThan(0);
    expect(parsed).to.be.greaterThan(10);
    s.close();
  });

  it('honest rounds complete during the fuzz, and the model stays finite and sane', () => {
    expect(report.honestRoundsCompleted).to.be.at.least(2);
    expect(report.honestModelFinite).to.equal(true);
  });
});
