/**
 * Profile service benchmark: `fedprofile serve` as a merchant runs it (the CLI in its own process, over
 * loopback HTTP), on seeded synthetic users and a freshly initialised profile model.
 *   npm run bench:serve -- --users 2000 --requests 20000 --concurrency 100 --out FILE
 * Prints JSON: start-up profiling rate, GET /profiles/:userId throughput (profiles/s) and latency percentiles at
 * the given concurrency, and the refresh latency of POST /events (the reply comes once the user's profile is
 * recomputed, so this is the time until a new event shows in the profile), sequential and under GET load.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { ensureOutputFile } from '../../shared/cli/paths.js';
import { PROFILE_SMALL } from '../../shared/model/config.js';
import { initialGlobalWeights } from '../../shared/model/init.js';
import { initBackend } from '../../shared/tf/backend.js';
import { saveArtifacts } from '../../shared/weights/artifacts.js';
import { writeSynthetic } from '../synthetic/generate.js';

const program = new Command()
  .name('bench:serve')
  .option('--users <n>', 'synthetic users the merchant has', '2000')
  .option('--requests <n>', 'GET /profiles/:userId requests to time', '20000')
  .option('--concurrency <n>', 'requests in flight at once', '100')
  .option('--refreshes <n>', 'POST /events requests to time', '200')
  .option('--seed <s>', 'data seed', '1')
  .option('--out <file>', 'also write the JSON here');
program.parse();
const o = program.opts<{ users: string; requests: string; concurrency: string; refreshes: string; seed: string; out?: string }>();
const out = o.out ? ensureOutputFile(o.out) : undefined;
const users = Number(o.users);
const requests = Number(o.requests);
const concurrency = Number(o.concurrency);
const refreshes = Number(o.refreshes);
const TOKEN = 'bench-service-token-0123456789';

const pct = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const summary = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  const r = (x: number) => +x.toFixed(3);
  return { count: s.length, p50Ms: r(pct(s, 50)), p90Ms: r(pct(s, 90)), p99Ms: r(pct(s, 99)), maxMs: r(s[s.length - 1]!), meanMs: r(s.reduce((a, b) => a + b, 0) / s.length) };
};

async function startService(dir: string): Promise<{ child: ChildProcess; url: string; users: number; startMs: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(process.cwd(), 'bin/fedprofile.js'), 'serve', '--data', join(dir, 'merchants', 'm1.jsonl'),
    '--model-dir', join(dir, 'model'), '--hash-key', 'bench-hash-key', '--categories', join(dir, 'taxonomy.json'),
    '--port', '0', '--backend', process.env.FEDPROFILE_BACKEND ?? 'auto'], { env: { ...process.env, FEDPROFILE_SERVICE_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.includes('"listening"'));
      if (line) {
        const j = JSON.parse(line) as { url: string; users: number };
        resolve({ child, url: j.url, users: j.users, startMs: performance.now() - t0 });
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`)));
  });
}

async function timed(url: string, init?: RequestInit): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url, init);
  await res.arrayBuffer();
  if (res.status >= 300) throw new Error(`${url}: HTTP ${res.status}`);
  return performance.now() - t0;
}

const dir = mkdtempSync(join(tmpdir(), 'fp-bench-serve-'));
let child: ChildProcess | undefined;
try {
  await writeSynthetic(dir, { users, merchants: 1, seed: Number(o.seed) });
  await initBackend('cpu');
  const { manifest, values } = await initialGlobalWeights(PROFILE_SMALL, 1);
  await saveArtifacts(join(dir, 'model'), { modelConfig: PROFILE_SMALL, manifest, values, metadata: { round: 0 } });
  const svc = await startService(dir);
  child = svc.child;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const known = (await (await fetch(`${svc.url}/segments`, { headers: auth })).json()) as { segments: Array<{ segment: number }> };
  const userIds: string[] = [];
  for (const s of known.segments) {
    const m = (await (await fetch(`${svc.url}/segments/${s.segment}/users`, { headers: auth })).json()) as { users: Array<{ userId: string }> };
    userIds.push(...m.users.map((u) => u.userId));
  }

  // Warm-up, then the timed run: `concurrency` loops share the request budget.
  await Promise.all(Array.from({ length: concurrency }, (_, i) => timed(`${svc.url}/profiles/${encodeURIComponent(userIds[i % userIds.length]!)}`, { headers: auth })));
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < requests) {
      const i = next++;
      latencies.push(await timed(`${svc.url}/profiles/${encodeURIComponent(userIds[(i * 7919) % userIds.length]!)}`, { headers: auth }));
    }
  }));
  const getSeconds = (performance.now() - t0) / 1000;

  const post = (i: number) => timed(`${svc.url}/events`, {
    method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: userIds[(i * 104729) % userIds.length], timestamp: Date.UTC(2024, 2, 1) + i * 1000, itemId: `new-${i}`, categoryId: 'c01', action: 'view' }),
  });
  const refreshSequential: number[] = [];
  for (let i = 0; i < refreshes; i++) refreshSequential.push(await post(i));
  // Under load: the same refreshes while `concurrency` GET loops keep running.
  let stop = false;
  const background = Promise.all(Array.from({ length: concurrency }, async (_, k) => {
    for (let j = 0; !stop; j++) await timed(`${svc.url}/profiles/${encodeURIComponent(userIds[(j * 31 + k) % userIds.length]!)}`, { headers: auth });
  }));
  const refreshUnderLoad: number[] = [];
  for (let i = 0; i < Math.min(refreshes, 100); i++) refreshUnderLoad.push(await post(refreshes + i));
  stop = true;
  await background;

  const result = {
    bench: 'serve', users: svc.users, model: 'PROFILE_SMALL', backend: process.env.FEDPROFILE_BACKEND ?? 'auto', cpus: cpus().length, node: process.version,
    startup: { seconds: +(svc.startMs / 1000).toFixed(2), note: 'process start, data read, every profile computed' },
    getProfile: { concurrency, requests, seconds: +getSeconds.toFixed(3), profilesPerSecond: Math.round(requests / getSeconds), ...summary(latencies) },
    refresh: { sequential: summary(refreshSequential), underGetLoad: summary(refreshUnderLoad) },
  };
  const json = JSON.stringify(result, null, 2);
  process.stdout.write(`${json}\n`);
  if (out) writeFileSync(out, `${json}\n`);
} finally {
  child?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
