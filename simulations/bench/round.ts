/**
 * Round overhead on loopback: `npm run bench:round -- --clients 50 --params 1000000 [--rounds 2] [--secagg] [--out FILE]`.
 *
 * The coordinator runs as a real child process (coordinator/main.ts, SQLite, checkpoints). The clients are
 * real FederatedClients (socket.io, framing, hashing, model cache on disk) in this process with an instant
 * trainer that returns a fixed pseudo-random delta, so what is left of a round's wall time is the runtime's
 * own cost: selection, model download to every client, update upload, aggregation, strategy step,
 * checkpoint and commit. overheadMs = round wall time − the slowest client's training time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { FederatedClient } from '../../client-sdk/federated-client.js';
import { restJson } from '../../coordinator/rest-client.js';
import { modelManifest } from '../../shared/model/init.js';
import type { ModelConfig } from '../../shared/model/config.js';
import type { LocalTrainer } from '../../shared/training/types.js';

const ADMIN = 'bench-admin-token-0123456789';

/** A profile-model config whose parameter count is as close as possible to `params` (grown via itemVocab). */
function configWithParams(params: number): ModelConfig {
  const base: ModelConfig = {
    itemVocab: 1000, categoryVocab: 16, priceBuckets: 8, gapBuckets: 8, textVocab: 0, textTokens: 0, useActions: true,
    maxLen: 50, dModel: 64, layers: 2, heads: 2, ffDim: 128, dropout: 0, numTiers: 4,
  };
  const p1 = modelManifest(base).totalSize;
  const p2 = modelManifest({ ...base, itemVocab: 2000 }).totalSize;
  const perItem = (p2 - p1) / 1000;
  const itemVocab = Math.max(3, Math.round(1000 + (params - p1) / perItem));
  return { ...base, itemVocab };
}

/** Returns a precomputed delta at once: the bench measures the runtime, not training. */
function instantTrainer(length: number, index: number): LocalTrainer {
  const delta = new Float32Array(length);
  let s = (index + 1) * 2654435761;
  for (let i = 0; i < length; i++) { s = (s * 1103515245 + 12345) >>> 0; delta[i] = ((s / 2 ** 32) - 0.5) * 1e-3; }
  return {
    fit: async () => ({ delta, numExamples: 10 + index, metrics: { loss: 1 } }),
    evaluate: async () => ({ numExamples: 1, metrics: {} }),
    close: async () => {},
  };
}

const call = (base: string, method: string, path: string, body?: unknown): Promise<any> =>
  restJson(base, method, path, { body, token: ADMIN, retries: 4 });

/** The coordinator's last log lines, printed if the bench fails. */
const coordinatorTail: string[] = [];

function spawnCoordinator(dataDir: string, profileDir?: string): Promise<{ child: ChildProcess; url: string }> {
  const prof = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', 'coordinator/main.ts', '--port', '0', '--data-dir', dataDir, '--admin-token', ADMIN], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      coordinatorTail.push(...d.toString().split('\n').filter(Boolean));
      coordinatorTail.splice(0, Math.max(0, coordinatorTail.length - 30));
      const line = out.split('\n').find((l) => l.includes('"event":"listening"'));
      if (line) { out = ''; resolve({ child, url: (JSON.parse(line) as { url: string }).url }); }
      else if (out.length > 1e6) out = out.slice(-1e4);
    });
    child.once('exit', (code, signal) => {
      process.stderr.write(`coordinator exited (code ${code}, signal ${signal})\n`);
      reject(new Error(`coordinator exited with ${code}`));
    });
  });
}

/**
 * CPU time (user + system, ms) the coordinator's main thread (the event loop; its thread id is the process
 * id) has used, from /proc: unlike wall time and stalls it does not grow when other work on the machine
 * takes the cores. null where /proc is not available.
 */
function mainThreadCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function main(): Promise<void> {
  const o = new Command()
    .option('--clients <n>', 'clients', (v) => parseInt(v, 10), 50)
    .option('--params <n>', 'model parameters (approximate)', (v) => parseInt(v, 10), 1_000_000)
    .option('--rounds <n>', 'rounds to time', (v) => parseInt(v, 10), 2)
    .option('--out <file>', 'write the JSON result here')
    .option('--secagg', 'aggregate with SecAgg+ instead of plain FedAvg')
    .option('--profile-dir <dir>', 'write a V8 CPU profile of the coordinator here')
    .parse(process.argv).opts<{ clients: number; params: number; rounds: number; secagg?: boolean; out?: string; profileDir?: string }>();
  const dir = mkdtempSync(join(tmpdir(), 'fedprofile-bench-round-'));
  const { child, url } = await spawnCoordinator(join(dir, 'data'), o.profileDir);
  const clients: FederatedClient[] = [];
  try {
    const model = configWithParams(o.params);
    const params = modelManifest(model).totalSize;
    const fed = await call(url, 'POST', '/federations', {
      name: 'bench', model, rounds: o.rounds, minClients: o.clients,
      strategy: { clientsPerRound: o.clients, minFitClients: o.clients, overSelection: 1, evaluateEvery: 0 },
      deadlines: { trainMs: 600_000, aggregationStageMs: 600_000 },
      ...(o.secagg ? { secureAggregation: { clip: 1 } } : {}),
    });
    const trainMs: number[] = [];
    for (let i = 0; i < o.clients; i++) {
      const { token } = await call(url, 'POST', `/federations/${fed.id}/tokens`, {});
      const c = new FederatedClient({ coordinatorUrl: url, token, trainer: instantTrainer(params, i), workDir: join(dir, `client-${i}`) });
      c.on('update-sent', (u) => trainMs.push(u.trainMs));
      clients.push(c);
    }
    await Promise.all(clients.map((c) => c.start()));
    const m0 = await (await fetch(`${url}/metrics`)).text();
    const cpu0 = mainThreadCpuMs(child.pid);
    const clientsCpu0 = process.cpuUsage();
    const t0 = performance.now();
    await call(url, 'POST', `/federations/${fed.id}/start`);
    for (;;) {
      const f = await call(url, 'GET', `/federations/${fed.id}`);
      if (f.status === 'completed') break;
      // The round times come from the round rows; polling only notices the end, so it stays rare (it costs the coordinator too).
      await new Promise((r) => setTimeout(r, 500));
    }
    const totalWallMs = performance.now() - t0;
    const cpu1 = mainThreadCpuMs(child.pid);
    const clientsCpu = process.cpuUsage(clientsCpu0);
    const m1 = await (await fetch(`${url}/metrics`)).text();
    const rounds = (await call(url, 'GET', `/federations/${fed.id}/rounds`)).rounds as Array<{ round: number; status: string; startedAt: number; finishedAt: number; metrics: Record<string, number> }>;
    const perRound = rounds.filter((r) => r.status === 'completed').map((r) => {
      const wallMs = r.finishedAt - r.startedAt;
      const maxTrainMs = r.metrics.maxTrainMs ?? 0;
      return { round: r.round, wallMs, maxClientTrainMs: +maxTrainMs.toFixed(2), overheadMs: +(wallMs - maxTrainMs).toFixed(1) };
    });
    const bytesIn = metricValue(m1, 'fedprofile_bytes_in_total') - metricValue(m0, 'fedprofile_bytes_in_total');
    const bytesOut = metricValue(m1, 'fedprofile_bytes_out_total') - metricValue(m0, 'fedprofile_bytes_out_total');
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const result = {
      clients: o.clients, params, rounds: perRound.length, aggregation: o.secagg ? 'secagg' : 'plain', transport: 'socket.io websocket, loopback',
      coordinator: 'child process', clientsIn: 'this process (instant trainer)',
      roundWallMs: +mean(perRound.map((r) => r.wallMs)).toFixed(1),
      clientTrainMsMean: +mean(trainMs).toFixed(2),
      clientTrainMsMax: +Math.max(0, ...trainMs).toFixed(2),
      overheadMs: +mean(perRound.map((r) => r.overheadMs)).toFixed(1),
      totalWallMs: +totalWallMs.toFixed(1),
      bytesInPerRound: Math.round(bytesIn / perRound.length),
      bytesOutPerRound: Math.round(bytesOut / perRound.length),
      rawUpdateBytes: params * 4,
      // Longest event-loop stall of the coordinator during the timed rounds (socket heartbeats wait this long):
      // prom-client resets its event-loop histogram at each scrape, and the bench scrapes just before starting.
      maxStallMs: +(metricValue(m1, 'fedprofile_nodejs_eventloop_lag_max_seconds') * 1000).toFixed(1),
      // The coordinator's event-loop thread's own CPU time per round (all rounds' work, polling included).
      coordinatorMainThreadCpuMsPerRound: cpu0 === null || cpu1 === null ? null : Math.round((cpu1 - cpu0) / Math.max(1, perRound.length)),
      // All 50 clients share this process (and its one event loop): their CPU time per round, every thread.
      clientsProcessCpuMsPerRound: Math.round((clientsCpu.user + clientsCpu.system) / 1000 / Math.max(1, perRound.length)),
      loadAverage1m: +loadavg()[0]!.toFixed(2),
      perRound,
    };
    const json = JSON.stringify(result, null, 2);
    process.stdout.write(`${json}\n`);
    if (o.out) writeFileSync(o.out, `${json}\n`);
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`coordinator log tail:\n${coordinatorTail.join('\n')}\n`);
  process.stderr.write(`bench:round failed: ${e instanceof Error ? e.stack ?? e.message : String(e)} ${String((e as { cause?: unknown }).cause ?? "")}\n`);
  process.exit(1);
});
