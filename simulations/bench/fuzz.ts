/**
 * Hostile-input benchmark: `npm run bench:fuzz -- --messages 10000 [--seed 1] [--out FILE]`.
 *
 * The coordinator runs as a real child process (coordinator/main.ts: SQLite, checkpoints, socket.io). This
 * process plays the attackers (enrolled sockets sending every class of bad message, bad handshakes, bad
 * HTTP requests; see fuzz-harness.ts) and two honest clients that keep running rounds. Reported:
 * crashes (the coordinator exited), unhandled rejections and uncaught exceptions it logged, its RSS delta
 * and peak, its own event-loop delay (prom-client's monitor, 10 ms resolution, scraped every second: p99 is
 * the worst one-second window's p99), /healthz latency seen from outside, and honest rounds completed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { runFuzz } from './fuzz-harness.js';

const ADMIN = 'bench-admin-token-0123456789';

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

function spawnCoordinator(dataDir: string): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'coordinator/main.ts', '--port', '0', '--data-dir', dataDir, '--admin-token', ADMIN], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); if (err.length > 1e6) err = err.slice(-1e5); });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"event":"listening"'));
      if (line) { out = ''; resolve({ child, url: (JSON.parse(line) as { url: string }).url, stderr: () => err }); }
      else if (out.length > 1e6) out = out.slice(-1e4);
    });
    child.once('exit', (code) => reject(new Error(`coordinator exited with ${code} before listening: ${err}`)));
  });
}

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const round1 = (x: number): number => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  const o = new Command()
    .option('--messages <n>', 'fuzz messages (socket + HTTP + handshakes)', (v) => parseInt(v, 10), 10_000)
    .option('--seed <n>', 'random seed', (v) => parseInt(v, 10), 1)
    .option('--out <file>', 'write the JSON result here')
    .parse(process.argv).opts<{ messages: number; seed: number; out?: string }>();
  const dir = mkdtempSync(join(tmpdir(), 'fedprofile-bench-fuzz-'));
  const { child, url, stderr } = await spawnCoordinator(join(dir, 'data'));
  let exited: number | string | null = null;
  child.once('exit', (code, signal) => { exited = code ?? signal; });
  try {
    const scrape = async (): Promise<string> => (await fetch(`${url}/metrics`)).text();
    const m0 = await scrape(); // also resets the loop-delay window
    const rss0 = metric(m0, 'fedprofile_process_resident_memory_bytes');
    const lagP99: number[] = [];
    const lagMax: number[] = [];
    const rss: number[] = [];
    const health: number[] = [];
    let healthFailures = 0;
    let running = true;
    const sampler = (async () => {
      while (running) {
        await new Promise((r) => setTimeout(r, 1000));
        try {
          const m = await scrape();
          lagP99.push(metric(m, 'fedprofile_nodejs_eventloop_lag_p99_seconds') * 1000);
          lagMax.push(metric(m, 'fedprofile_nodejs_eventloop_lag_max_seconds') * 1000);
          rss.push(metric(m, 'fedprofile_process_resident_memory_bytes'));
        } catch { /* counted by the health probe */ }
      }
    })();
    const prober = (async () => {
      while (running) {
        const t = performance.now();
        try { if ((await fetch(`${url}/healthz`)).status !== 200) healthFailures++; } catch { healthFailures++; }
        health.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const report = await runFuzz({ url, adminToken: ADMIN, messages: o.messages, seed: o.seed, workDir: dir });
    running = false;
    await Promise.all([sampler, prober]);
    const m1 = await scrape();
    const rss1 = metric(m1, 'fedprofile_process_resident_memory_bytes');
    const err = stderr();
    const result = {
      messages: report.messages, socketMessages: report.socketMessages, httpRequests: report.httpRequests, handshakes: report.handshakes,
      coordinator: 'child process (coordinator/main.ts)', attackersAndHonestClients: 'this process',
      crashes: exited === null ? 0 : 1,
      unhandledRejections: (err.match(/unhandled ?rejection/gi) ?? []).length,
      uncaughtExceptions: (err.match(/uncaught/gi) ?? []).length,
      rssDeltaMb: round1((rss1 - rss0) / 2 ** 20),
      rssPeakMb: round1(Math.max(rss0, ...rss) / 2 ** 20),
      loopP99Ms: round1(Math.max(...lagP99)),
      loopMaxMs: round1(Math.max(...lagMax)),
      healthzP99Ms: round1(pct(health, 99)),
      healthzMaxMs: round1(Math.max(...health)),
      healthzFailures: healthFailures,
      answered: report.answered, unanswered: report.socketMessages - report.answered,
      http5xx: report.http5xx, httpStatuses: report.httpStatuses, handshakesAccepted: report.handshakesAccepted,
      honestRoundsCompleted: report.honestRoundsCompleted, honestModelFinite: report.honestModelFinite,
      errorCodes: report.errorCodes, byClass: report.byClass, wallMs: report.wallMs,
    };
    const json = JSON.stringify(result, null, 2);
    process.stdout.write(`${json}\n`);
    if (o.out) writeFileSync(o.out, `${json}\n`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    if (exited === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:fuzz failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
