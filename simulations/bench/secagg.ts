/**
 * SecAgg+ benchmark: one full round in one process (all clients and the server, real crypto, no sockets).
 *   npm run bench:secagg -- --clients 500 --params 100000 --dropout 0.3 --out FILE
 * Prints JSON: clientMs is the mean compute per surviving client, serverMs the server's compute for the whole
 * round (unmasking included), both as process CPU time by default (--clock wall for elapsed time); bytes are
 * measured on the seam's messages (binary fields at their raw size). Dropped clients drop after sharing
 * keys by default, the costliest point (their pair masks must be rebuilt), as in Bonawitz et al.'s figures.
 * The server unmasks on a worker thread as the coordinator does (--no-worker: inline); serverMs then includes
 * the worker's CPU time, and serverMaxStepMs is the longest the server held the event loop in one call.
 * `consistency` is the cost of the consistency check: the member set, the signatures and their checks.
 */
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { runSecAggInMemory, cpuClockMs, SECAGG_MESSAGES as MSG, type DropPoint } from '../../shared/secagg/index.js';
import { deriveGraphParams, parseSecAggParams } from '../../shared/secagg/params.js';
import { warmUnmaskWorker } from '../../shared/secagg/unmask-host.js';

const program = new Command()
  .name('bench:secagg')
  .option('--clients <n>', 'number of clients', '500')
  .option('--params <m>', 'update length (model parameters)', '100000')
  .option('--dropout <fraction>', 'fraction of clients that drop', '0')
  .option('--drop-stage <stage>', 'where they drop: before-advertise | after-advertise | after-share-keys | after-masked-input',
    'after-share-keys')
  .option('--neighbors <k>', 'neighbours per client (default: derived from n and the expected dropout)')
  .option('--threshold <t>', 'Shamir threshold (default: floor(k/2)+1)')
  .option('--expected-dropout <fraction>', 'dropout rate the derived k must survive (default: max(0.1, --dropout))')
  .option('--clip <c>', 'clipping bound', '1')
  .option('--max-weight <w>', 'largest example count', '1000')
  .option('--seed <s>', 'seed for updates, weights and the dropout set', '1')
  .option('--clock <kind>', 'cpu (process CPU time, robust on a shared machine) or wall', 'cpu')
  .option('--no-worker', 'unmask inline instead of on a worker thread')
  .option('--out <file>', 'also write the JSON here');
program.parse();
const o = program.opts<Record<string, string | undefined>>();
const useWorker = (program.opts() as { worker?: boolean }).worker !== false;

const n = Number(o.clients);
const m = Number(o.params);
const dropout = Number(o.dropout);
const maxWeight = Number(o.maxWeight);
const stage = o.dropStage as DropPoint;
if (!['before-advertise', 'after-advertise', 'after-share-keys', 'after-masked-input'].includes(stage)) {
  throw new Error(`unknown --drop-stage ${stage}`);
}

/** xorshift32: cheap deterministic data, regenerated per client so a big cohort never holds n updates. */
function rng(seed: number): () => number {
  let x = (seed * 2654435761) >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
}
const seed = Number(o.seed);
const updateOf = (i: number): Float32Array => {
  const r = rng(seed * 1000003 + i + 1);
  const u = new Float32Array(m);
  for (let j = 0; j < m; j++) u[j] = (r() - 0.5) * 0.1;
  return u;
};
const wr = rng(seed + 7);
const weights = Array.from({ length: n }, () => 1 + Math.floor(wr() * maxWeight));
const ids = Array.from({ length: n }, (_, i) => `c${String(i).padStart(5, '0')}`);
const dr = rng(seed + 13);
const order = ids.map((id) => ({ id, key: dr() })).sort((a, b) => a.key - b.key);
const dropAt: Record<string, DropPoint> = {};
for (const { id } of order.slice(0, Math.round(dropout * n))) dropAt[id] = stage;

const params = {
  federationId: 'bench', round: 1, dimension: m, clip: Number(o.clip), maxWeight,
  ...(o.neighbors ? { neighbors: Number(o.neighbors) } : {}),
  ...(o.threshold ? { threshold: Number(o.threshold) } : {}),
  expectedDropout: Math.min(0.45, o.expectedDropout !== undefined ? Number(o.expectedDropout) : Math.max(0.1, dropout)),
};
const graph = deriveGraphParams(n, parseSecAggParams(params));

// A coordinator starts its unmask worker once per process, not per round: start it before measuring, and
// report what starting it cost.
let workerStartMs = 0;
if (useWorker) {
  const c0 = cpuClockMs();
  await warmUnmaskWorker();
  workerStartMs = cpuClockMs() - c0;
}
const wall0 = performance.now();
const clock = o.clock === 'wall' ? () => performance.now() : undefined;
const run = runSecAggInMemory({ updates: updateOf, weights, params, clientIds: ids, dropAt, unmaskInWorker: useWorker, ...(clock ? { clock } : {}) });
// With the worker the round ends here: its CPU time (process-wide) is charged to the server.
const settle0 = (clock ?? cpuClockMs)();
await run.server.settled();
const backgroundMs = (clock ?? cpuClockMs)() - settle0;
run.outcome = run.server.outcome();
const wallMs = performance.now() - wall0;

let maxAbsError: number | null = null;
let bound: number | null = null;
if (run.outcome.status === 'done') {
  const exact = new Float64Array(m);
  let total = 0;
  for (const id of run.outcome.contributors) {
    const i = ids.indexOf(id);
    const u = updateOf(i);
    const w = Math.min(weights[i]!, maxWeight);
    total += w;
    for (let j = 0; j < m; j++) exact[j]! += w * u[j]!;
  }
  maxAbsError = 0;
  for (let j = 0; j < m; j++) maxAbsError = Math.max(maxAbsError, Math.abs(exact[j]! / total - run.outcome.mean[j]!));
  bound = run.outcome.metrics.quantisationErrorBound ?? null;
}
const mean = (xs: Iterable<number>): number => { let s = 0, c = 0; for (const x of xs) { s += x; c++; } return c ? s / c : 0; };
const survivors = ids.filter((id) => !dropAt[id]);
function survivorsCount(): number { return survivors.length; }
const result = {
  clients: n,
  params: m,
  dropout,
  dropStage: stage,
  neighbors: graph.neighbors,
  threshold: graph.threshold,
  status: run.outcome.status,
  ...(run.outcome.status === 'aborted' ? { reason: run.outcome.reason } : {}),
  clock: o.clock,
  clientMs: mean(survivors.map((id) => run.clientMs.get(id) ?? 0)),
  serverMs: run.serverMs + backgroundMs,
  serverMaxStepMs: run.serverMaxStepMs,
  serverMaxStepType: run.serverMaxStepType,
  serverMsByType: Object.fromEntries(run.serverMsByType),
  serverBackgroundMs: backgroundMs,
  unmaskInWorker: useWorker,
  workerStartMs,
  wallMs,
  consistency: {
    // Per surviving client: signing the member set and checking its neighbours' signatures before unmasking.
    clientMs: ((run.clientMsByType.get(MSG.consistency) ?? 0) + (run.clientMsByType.get(MSG.unmask) ?? 0)) / Math.max(1, survivorsCount()),
    // Server: verifying every member's signature (and closing the stage).
    serverMs: run.serverMsByType.get(MSG.consistencySig) ?? 0,
    bytesPerClient: ((run.bytesByType.get(MSG.consistency) ?? 0) + (run.bytesByType.get(MSG.consistencySig) ?? 0)
      + (run.bytesByType.get(MSG.unmask) ?? 0)) / Math.max(1, survivorsCount()),
  },
  bytesUpPerClient: mean(survivors.map((id) => run.bytesUp.get(id) ?? 0)),
  bytesDownPerClient: mean(survivors.map((id) => run.bytesDown.get(id) ?? 0)),
  uploadOverRaw: mean(survivors.map((id) => run.bytesUp.get(id) ?? 0)) / (4 * m),
  maxAbsError,
  errorBound: bound,
  metrics: run.outcome.status === 'done' ? run.outcome.metrics : undefined,
  rejected: run.rejected.length,
  node: process.version,
};
const json = JSON.stringify(result, null, 2);
console.log(json);
if (o.out) writeFileSync(o.out, json + '\n');
