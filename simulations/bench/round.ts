/**
 * Round overhead on loopback: `npm run bench:round -- --clients 50 --params 1000000 [--rounds 2] [--secagg] [--out FILE]`.
 *
 * What runs: the coordinator as deployed (coordinator/main.ts in its own process: SQLite, checkpoints, the
 * aggregation worker) and the clients as real FederatedClients (socket.io over loopback, framing, hashing,
 * model cache on disk) in separate client processes (round-clients.ts), started at the lowest CPU priority
 * (nice 19) so that on a small machine the simulated clients take a core only when the coordinator does
 * not need it: on a real deployment they are other machines. Each client's trainer returns a delta it
 * prepared at start-up (a client whose training run has finished), so the round's wall time is the
 * round's own cost.
 *
 * What is timed, per round, from the coordinator's round row: start (selection, fit messages) to commit
 * (model download to every client, update upload, bounds checks, aggregation, server step, checkpoint,
 * SQLite commit). overheadMs = that wall time − the slowest client's training time (≈ 0 here). The
 * per-round phases come from the clients' own event times (same host clock). maxStallMs is the
 * coordinator's longest event-loop delay during the timed rounds (its prom-client monitor, reset by the
 * scrape just before the start).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Command } from 'commander';
import { restJson } from '../../coordinator/rest-client.js';
import { modelManifest } from '../../shared/model/init.js';
import type { ModelConfig } from '../../shared/model/config.js';

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

/** CPU time (user + system, ms) of a whole process, every thread, from /proc; null where unavailable. */
function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

interface ClientEvent { event: string; client: number; round?: number; at: number; trainMs?: number; status?: string }

/** One client process: resolves once all its clients are connected; its events land in `events`. */
function spawnClients(url: string, workDir: string, params: number, specs: Array<{ token: string; index: number }>, nice: number, events: ClientEvent[], profileDir?: string): Promise<ChildProcess> {
  const prof = profileDir ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, 'clients')] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', 'simulations/bench/round-clients.ts', url, workDir, String(params), JSON.stringify(specs)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // Lowest priority: the clients stand for other machines and must not take the coordinator's core.
  if (nice !== 0 && child.pid !== undefined) {
    try { setPriority(child.pid, nice); } catch (e) { process.stderr.write(`could not renice the clients (${(e as Error).message}); measuring without\n`); }
  }
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let e: ClientEvent;
      try { e = JSON.parse(line) as ClientEvent; } catch { return; }
      if (e.event === 'ready') resolve(child);
      else events.push(e);
    });
    child.once('exit', (code) => reject(new Error(`a client process exited with ${code} before its clients connected`)));
  });
}

async function stopChild(child: ChildProcess, how: () => void): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  how();
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

const WHAT_IS_TIMED = `
What runs: the coordinator (coordinator/main.ts) in its own process with SQLite, checkpoints and its
aggregation worker; the clients as real FederatedClients over loopback sockets in --client-processes
separate processes at CPU priority --client-nice (default 19, the lowest: they stand for other machines).
Each client's trainer returns a delta prepared at start-up, as a client whose training has finished would.

What is timed, per round (the coordinator's round row): round start to commit, i.e. model download to every
client, update upload, bounds checks, aggregation, server step, checkpoint and SQLite commit.
overheadMs = mean over rounds of (wall time - slowest client's training time). phases (from the clients'
event times): toLastFitMs (start to the last fit message received), toLastUpdateMs (start to the last
update sent, so model downloads and uploads' encoding), lastUpdateToCommitMs (the rest: receiving,
aggregation, server step, checkpoint, commit); from the coordinator's round metrics, meanReadyMs (start to
the mean being ready) and commitMs (server step on the aggregation worker, checkpoint files, SQLite commit). maxStallMs: the coordinator's longest event-loop delay during
the timed rounds. CPU: the coordinator's event-loop thread and all its threads, and the client processes.`;

async function main(): Promise<void> {
  const o = new Command()
    .description('Round overhead and event-loop stalls of the coordinator with 50 loopback clients and an instant trainer.')
    .option('--clients <n>', 'clients', (v) => parseInt(v, 10), 50)
    .option('--params <n>', 'model parameters (approximate)', (v) => parseInt(v, 10), 1_000_000)
    .option('--rounds <n>', 'rounds to time', (v) => parseInt(v, 10), 2)
    .option('--out <file>', 'write the JSON result here')
    .option('--secagg', 'aggregate with SecAgg+ instead of plain FedAvg')
    .option('--client-processes <n>', 'processes the clients are spread over', (v) => parseInt(v, 10), 2)
    .option('--client-nice <n>', 'CPU niceness of the client processes (0 to 19)', (v) => parseInt(v, 10), 19)
    .option('--profile-dir <dir>', 'write V8 CPU profiles of the coordinator here (and of the client processes in its clients/)')
    .addHelpText('after', WHAT_IS_TIMED)
    .parse(process.argv).opts<{ clients: number; params: number; rounds: number; secagg?: boolean; out?: string; profileDir?: string; clientProcesses: number; clientNice: number }>();
  const dir = mkdtempSync(join(tmpdir(), 'fedprofile-bench-round-'));
  const { child, url } = await spawnCoordinator(join(dir, 'data'), o.profileDir);
  const clientProcs: ChildProcess[] = [];
  try {
    const model = configWithParams(o.params);
    const params = modelManifest(model).totalSize;
    const fed = await call(url, 'POST', '/federations', {
      name: 'bench', model, rounds: o.rounds, minClients: o.clients,
      strategy: { clientsPerRound: o.clients, minFitClients: o.clients, overSelection: 1, evaluateEvery: 0 },
      deadlines: { trainMs: 600_000, aggregationStageMs: 600_000 },
      ...(o.secagg ? { secureAggregation: { clip: 1 } } : {}),
    });
    const specs: Array<{ token: string; index: number }> = [];
    for (let i = 0; i < o.clients; i++) specs.push({ token: (await call(url, 'POST', `/federations/${fed.id}/tokens`, {})).token as string, index: i });
    const events: ClientEvent[] = [];
    const procs = Math.max(1, Math.min(o.clientProcesses, o.clients));
    const groups = Array.from({ length: procs }, (_, p) => specs.filter((s) => s.index % procs === p));
    clientProcs.push(...await Promise.all(groups.map((g) => spawnClients(url, dir, params, g, o.clientNice, events, o.profileDir))));
    const clientCpu = () => clientProcs.reduce((sum, c) => sum + (processCpuMs(c.pid) ?? 0), 0);
    const m0 = await (await fetch(`${url}/metrics`)).text();
    const cpu0 = mainThreadCpuMs(child.pid);
    const allCpu0 = processCpuMs(child.pid);
    const clientsCpu0 = clientCpu();
    const t0 = performance.now();
    await call(url, 'POST', `/federations/${fed.id}/start`);
    for (;;) {
      const f = await call(url, 'GET', `/federations/${fed.id}`);
      if (f.status === 'completed') break;
      if (clientProcs.some((c) => c.exitCode !== null)) throw new Error('a client process exited during the timed rounds');
      // The round times come from the round rows; polling only notices the end, so it stays rare (it costs the coordinator too).
      await new Promise((r) => setTimeout(r, 500));
    }
    const totalWallMs = performance.now() - t0;
    const cpu1 = mainThreadCpuMs(child.pid);
    const allCpu1 = processCpuMs(child.pid);
    const clientsCpu = clientCpu() - clientsCpu0;
    const m1 = await (await fetch(`${url}/metrics`)).text();
    const rounds = (await call(url, 'GET', `/federations/${fed.id}/rounds`)).rounds as Array<{ round: number; status: string; startedAt: number; finishedAt: number; metrics: Record<string, number> }>;
    const trainMs = events.filter((e) => e.event === 'update-sent').map((e) => e.trainMs ?? 0);
    const perRound = rounds.filter((r) => r.status === 'completed').map((r) => {
      const wallMs = r.finishedAt - r.startedAt;
      const maxTrainMs = r.metrics.maxTrainMs ?? 0;
      const last = (event: string) => Math.max(r.startedAt, ...events.filter((e) => e.event === event && e.round === r.round).map((e) => e.at));
      return {
        round: r.round, wallMs, maxClientTrainMs: +maxTrainMs.toFixed(2), overheadMs: +(wallMs - maxTrainMs).toFixed(1),
        phases: {
          toLastFitMs: last('fit') - r.startedAt, toLastUpdateMs: last('update-sent') - r.startedAt, lastUpdateToCommitMs: r.finishedAt - last('update-sent'),
          // The coordinator's own split: start to the mean being ready, then the commit (server step, checkpoint, SQLite).
          meanReadyMs: r.metrics.meanReadyMs ?? null, commitMs: r.metrics.commitMs ?? null,
        },
      };
    });
    const bytesIn = metricValue(m1, 'fedprofile_bytes_in_total') - metricValue(m0, 'fedprofile_bytes_in_total');
    const bytesOut = metricValue(m1, 'fedprofile_bytes_out_total') - metricValue(m0, 'fedprofile_bytes_out_total');
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const n = Math.max(1, perRound.length);
    const result = {
      clients: o.clients, params, rounds: perRound.length, aggregation: o.secagg ? 'secagg' : 'plain', transport: 'socket.io websocket, loopback',
      coordinator: 'child process (coordinator/main.ts)',
      clientsIn: `${procs} child process(es) at nice ${o.clientNice}, instant trainer with a delta prepared at start-up`,
      roundWallMs: +mean(perRound.map((r) => r.wallMs)).toFixed(1),
      clientTrainMsMean: +mean(trainMs).toFixed(2),
      clientTrainMsMax: +Math.max(0, ...trainMs).toFixed(2),
      overheadMs: +mean(perRound.map((r) => r.overheadMs)).toFixed(1),
      totalWallMs: +totalWallMs.toFixed(1),
      bytesInPerRound: Math.round(bytesIn / n),
      bytesOutPerRound: Math.round(bytesOut / n),
      rawUpdateBytes: params * 4,
      // prom-client resets its event-loop histogram at each scrape, and the bench scrapes just before starting.
      maxStallMs: +(metricValue(m1, 'fedprofile_nodejs_eventloop_lag_max_seconds') * 1000).toFixed(1),
      // The coordinator's event-loop thread's own CPU time per round (all rounds' work, polling included).
      coordinatorMainThreadCpuMsPerRound: cpu0 === null || cpu1 === null ? null : Math.round((cpu1 - cpu0) / n),
      // Every thread of the coordinator (the aggregation worker, libuv's pool, GC).
      coordinatorProcessCpuMsPerRound: allCpu0 === null || allCpu1 === null ? null : Math.round((allCpu1 - allCpu0) / n),
      clientsProcessCpuMsPerRound: Math.round(clientsCpu / n),
      loadAverage1m: +loadavg()[0]!.toFixed(2),
      perRound,
    };
    const json = JSON.stringify(result, null, 2);
    process.stdout.write(`${json}\n`);
    if (o.out) writeFileSync(o.out, `${json}\n`);
  } finally {
    await Promise.all(clientProcs.map((c) => stopChild(c, () => c.stdin!.end())));
    await stopChild(child, () => child.kill('SIGTERM'));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`coordinator log tail:\n${coordinatorTail.join('\n')}\n`);
  process.stderr.write(`bench:round failed: ${e instanceof Error ? e.stack ?? e.message : String(e)} ${String((e as { cause?: unknown }).cause ?? "")}\n`);
  process.exit(1);
});
