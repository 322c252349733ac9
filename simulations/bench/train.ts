/**
 * Training benchmark "bert4rec-64": the workload of ../shared/reference/bert4rec_torch.py (beside the checkout) (B=32, L=50, item
 * vocabulary 5000+2, d=64, 2 post-LN blocks, 2 heads, FF 256, mask p=0.2, Cloze CE over the full vocabulary
 * at masked positions only, Adam 1e-3, dropout 0, random ids) run through `trainLocal`, the function every
 * client runs: each timed step includes shuffling, masking and batch building, as in a real round.
 *
 *   npm run bench:train -- [--out FILE] [--steps N] [--warmup N] [--rounds K] [--backend wasm] [--threads 1,2]
 *                          [--torch-ref SEQ_PER_S | --no-torch] [--no-stock] [--profile] [--sampled-negatives N]
 *
 * With no --torch-ref and a python (default /usr/bin/python3) that can import torch, the PyTorch reference
 * runs in this session interleaved with ours (ref, ours, ref, …: K+1 reference runs around K of ours, one
 * thread each); `ratio` is the median over our runs of ours / mean of the two reference runs around it.
 * --threads lists engine counts (default 1 and every core): above 1, trainLocal splits each batch across a
 * DataParallelGroup (the calling thread + threads−1 helper workers) and PyTorch runs with the same number of
 * threads (torch.set_num_threads, OPENBLAS_NUM_THREADS). All counts are interleaved in one session;
 * `scaling` is the median of ours(N) / ours(1) over adjacent runs.
 * "stock" is the same model on the same backend with plain autodiff ops, tf.train.adam and without the wasm
 * speed patches, measured in a child process so neither variant warms the other's caches.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import seedrandom from 'seedrandom';
import type { UserExample } from '../../shared/data/encoded.js';
import { BERT4REC_64 } from '../../shared/model/config.js';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { BACKEND_CHOICES, initBackend, setWasmPatches, type BackendChoice } from '../../shared/tf/backend.js';
import { DataParallelGroup } from '../../shared/training/data-parallel.js';
import { trainLocal, type TrainOptions } from '../../shared/training/trainer.js';
import { isFedProfileError } from '../../shared/errors.js';

const B = 32;
const MASK_P = 0.2;
// The reference program lives beside the checkout (../shared/reference), never inside the project.
const DEFAULT_TORCH_SCRIPT = fileURLToPath(new URL('../../../shared/reference/bert4rec_torch.py', import.meta.url));

/** cpu* figures use this process's CPU time instead of wall time: far less sensitive to other load on the host. */
interface RunResult { backend: string; seqPerSec: number; stepMs: number; cpuStepMs: number; cpuSeqPerSec: number; loss: number; params: number }
interface TorchRun { seqPerSec: number; stepMs: number; loss: number; torch: string }

/** Full-length users with uniformly random item ids (the reference's random batch); no side features. */
function referenceExamples(n: number, seed: number): UserExample[] {
  const cfg = BERT4REC_64;
  const L = cfg.maxLen;
  const rng = seedrandom(String(seed));
  return Array.from({ length: n }, (_, u) => {
    const item = new Int32Array(L);
    for (let l = 0; l < L; l++) item[l] = 2 + Math.floor(rng() * (cfg.itemVocab - 2));
    const zeros = () => new Int32Array(L);
    return {
      userKey: `u${u}`,
      input: { item, category: zeros(), action: zeros(), price: zeros(), gap: zeros(), text: new Int32Array(0), length: L },
      labels: { purchased: 0, interests: new Float32Array(cfg.categoryVocab), tier: 0, nextItems: [] },
    };
  });
}

let sampledNegatives: number | undefined;

function trainOptions(fusedAdam: boolean, dataParallel?: DataParallelGroup): TrainOptions {
  return { round: 0, phase: 'pretrain', localEpochs: 1, batchSize: B, learningRate: 1e-3, optimizer: 'adam', seed: 0, maskProb: MASK_P, fusedAdam, dataParallel, sampledNegatives };
}

async function runVariant(variant: 'fast' | 'stock', backend: BackendChoice, steps: number, warmup: number, group?: DataParallelGroup): Promise<RunResult> {
  const info = await initBackend(backend);
  if (info.name === 'wasm') setWasmPatches(variant === 'fast');
  const model = ProfileModel.create(BERT4REC_64, 0, { fusedOps: variant === 'fast' });
  const examples = referenceExamples(B * (warmup + steps), 0);
  // Clock readings after each step; the timed window runs from the end of the last warm-up step.
  const wall: number[] = [performance.now()];
  const cpu: number[] = [cpuMs()];
  let loss = NaN;
  trainLocal(model, { train: examples }, trainOptions(variant === 'fast', group), (p) => {
    wall.push(performance.now());
    cpu.push(cpuMs());
    loss = p.loss;
  });
  const stepMs = (wall[warmup + steps]! - wall[warmup]!) / steps;
  const cpuStepMs = (cpu[warmup + steps]! - cpu[warmup]!) / steps;
  const params = model.paramCount('cloze');
  model.dispose();
  return {
    backend: info.name, seqPerSec: round((B * 1000) / stepMs, 1), stepMs: round(stepMs, 2),
    cpuStepMs: round(cpuStepMs, 2), cpuSeqPerSec: round((B * 1000) / cpuStepMs, 1), loss: round(loss, 4), params };
}

/** Total time per kernel (ms) over one trainLocal step on a fresh model, top 12. */
async function profileOneStep(): Promise<Record<string, number>> {
  const model = ProfileModel.create(BERT4REC_64, 0);
  const examples = referenceExamples(B, 1);
  trainLocal(model, { train: examples }, trainOptions(true)); // first-call kernel set-up stays out of the profile
  const p = await tf.profile(() => { trainLocal(model, { train: examples }, trainOptions(true)); });
  model.dispose();
  const byKernel = new Map<string, number>();
  for (const k of p.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + Number(k.kernelTimeMs));
  return Object.fromEntries([...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => [k, round(v, 2)]));
}

function cpuMs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * The BLAS libraries torch has loaded after one matmul, or undefined when the python cannot import torch.
 * Recorded because the ratio depends on it: Debian's python3-torch uses whichever libblas.so.3 is installed,
 * and the netlib reference BLAS is several times slower than OpenBLAS (libopenblas0-pthread).
 */
function torchBlas(python: string): string[] | undefined {
  const probe = 'import torch\ntorch.ones(64, 64) @ torch.ones(64, 64)\n'
    + "print('\\n'.join(sorted({l.split()[-1] for l in open('/proc/self/maps') if 'blas' in l.lower()})))";
  const r = spawnSync(python, ['-c', probe], { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } });
  return r.status === 0 ? r.stdout.split('\n').filter((l) => l.length > 0) : undefined;
}

function runTorch(python: string, script: string, threads: number, steps: number): TorchRun {
  const child = spawnSync(python, [script, '--threads', String(threads), '--steps', String(steps), '--json'], {
    encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) },
  });
  const line = child.stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (child.status !== 0 || line === undefined) {
    throw new Error(`PyTorch reference failed (exit ${child.status}): ${child.stderr.split('\n').slice(-3).join(' | ')}`);
  }
  const r = JSON.parse(line) as TorchRun;
  return { seqPerSec: r.seqPerSec, stepMs: r.stepMs, loss: r.loss, torch: r.torch };
}

function measureStockInChild(backend: BackendChoice, steps: number, warmup: number): Omit<RunResult, 'backend' | 'params'> {
  const self = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, ['--import', 'tsx', self, '--variant', 'stock', '--backend', backend, '--steps', String(steps), '--warmup', String(warmup)], {
    encoding: 'utf8', maxBuffer: 16 << 20, env: process.env,
  });
  const line = child.stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (child.status !== 0 || line === undefined) {
    throw new Error(`stock measurement failed (exit ${child.status}): ${child.stderr.split('\n').filter((l) => l.length < 300).slice(-5).join(' | ')}`);
  }
  const r = JSON.parse(line) as RunResult;
  return { seqPerSec: r.seqPerSec, stepMs: r.stepMs, cpuStepMs: r.cpuStepMs, cpuSeqPerSec: r.cpuSeqPerSec, loss: r.loss };
}

interface Opts {
  out?: string; steps: string; warmup: string; rounds: string; backend: string; torchRef?: string; torchCpuRef?: string;
  torch: boolean; python: string; torchScript: string; stock: boolean; profile: boolean; variant: string; threads?: string; sampledNegatives?: string;
}

function positiveInt(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min} (got ${v})`);
  return n;
}

async function main(): Promise<void> {
  const program = new Command()
    .name('bench:train')
    .description('Training throughput of trainLocal on the bert4rec-64 config, beside the PyTorch reference on the same workload.')
    .option('--out <file>', 'also write the JSON result to this file')
    .option('--steps <n>', 'timed steps per run', '20')
    .option('--warmup <n>', 'warm-up steps per run', '3')
    .option('--rounds <k>', 'runs of ours, interleaved with k+1 PyTorch runs', '2')
    .option('--threads <list>', 'engine counts to measure, comma-separated (default: 1 and every core)')
    .option('--sampled-negatives <n>', 'train with sampled softmax over n shared negatives (the reference keeps the full softmax)')
    .option('--backend <name>', `tfjs backend: ${BACKEND_CHOICES.join('|')}`, process.env.FEDPROFILE_BACKEND ?? 'wasm')
    .option('--torch-ref <seqPerSec>', 'PyTorch throughput measured by hand on this machine (skips running it)')
    .option('--torch-cpu-ref <seqPerSec>', 'PyTorch throughput per CPU-second, for the CPU-time ratio')
    .option('--python <path>', 'python that runs the PyTorch reference', '/usr/bin/python3')
    .option('--torch-script <path>', 'the PyTorch reference program (bert4rec_torch.py)', DEFAULT_TORCH_SCRIPT)
    .option('--no-torch', 'do not run the PyTorch reference')
    .option('--no-stock', 'skip the stock (unpatched, plain autodiff, tf.train.adam) measurement')
    .option('--profile', 'add the per-kernel time of one trainLocal step (tf.profile)', false)
    .addOption(new Option('--variant <v>', 'internal: fast|stock').default('fast').hideHelp())
    .parse();
  const o = program.opts<Opts>();
  const steps = positiveInt('--steps', o.steps, 1);
  const warmup = positiveInt('--warmup', o.warmup, 0);
  const rounds = positiveInt('--rounds', o.rounds, 1);
  sampledNegatives = o.sampledNegatives !== undefined ? positiveInt('--sampled-negatives', o.sampledNegatives, 1) : undefined;
  if (!(BACKEND_CHOICES as readonly string[]).includes(o.backend)) throw new Error(`--backend must be one of ${BACKEND_CHOICES.join(', ')}`);
  const backend = o.backend as BackendChoice;
  if (o.variant === 'stock') {
    console.log(JSON.stringify(await runVariant('stock', backend, steps, warmup)));
    return;
  }
  const manualTorch = o.torchRef !== undefined ? Number(o.torchRef) : undefined;
  if (manualTorch !== undefined && !(manualTorch > 0)) throw new Error(`--torch-ref must be a positive number (got ${o.torchRef})`);
  const torchScriptFound = existsSync(o.torchScript);
  if (manualTorch === undefined && o.torch && !torchScriptFound) console.error(`warning: no PyTorch reference at ${o.torchScript} (--torch-script PATH); ratio needs --torch-ref`);
  const blas = manualTorch === undefined && o.torch && torchScriptFound ? torchBlas(o.python) : undefined;
  const autoTorch = blas !== undefined;
  // Debian's netlib reference BLAS lives in .../blas/; OpenBLAS in .../openblas-pthread/ (or libopenblas*).
  const slowTorch = autoTorch && !blas.some((l) => /openblas|mkl|blis/i.test(l));
  const warnings = slowTorch
    ? ['PyTorch runs on the netlib reference BLAS, several times slower than OpenBLAS: the ratio flatters us. Install libopenblas0-pthread for a fair reference.']
    : [];
  warnings.forEach((w) => console.error(`warning: ${w}`));

  await initBackend(backend);
  const cores = os.availableParallelism();
  const counts = (o.threads ?? (cores > 1 ? `1,${cores}` : '1')).split(',').map((t) => positiveInt('--threads', t.trim(), 1));
  if (tf.getBackend() === 'wasm' && getThreadsCount() !== 1) console.error('warning: the wasm backend runs its own threads; engine counts are not thread counts');
  const groups = new Map<number, DataParallelGroup>();
  for (const t of counts) if (t > 1 && !groups.has(t)) groups.set(t, await DataParallelGroup.start({ threads: t, modelConfig: BERT4REC_64 }));
  const ours = new Map<number, RunResult[]>(counts.map((t) => [t, []]));
  const refs = new Map<number, TorchRun[]>(counts.map((t) => [t, []]));
  try {
    for (let i = 0; i < rounds; i++) {
      for (const t of counts) {
        if (autoTorch) refs.get(t)!.push(runTorch(o.python, o.torchScript, t, steps));
        ours.get(t)!.push(await runVariant('fast', backend, steps, warmup, groups.get(t)));
      }
    }
    if (autoTorch) for (const t of counts) refs.get(t)!.push(runTorch(o.python, o.torchScript, t, steps));
  } finally {
    await Promise.all([...groups.values()].map((g) => g.close()));
  }
  const stock = o.stock && ours.get(counts[0]!)![0]!.backend === 'wasm' ? measureStockInChild(backend, steps, warmup) : undefined;
  const profile = o.profile ? await profileOneStep() : undefined;

  const summary = (t: number) => {
    const mine = ours.get(t)!;
    const theirs = refs.get(t)!;
    const seqPerSec = round(median(mine.map((r) => r.seqPerSec)), 1);
    const torchSeqPerSec = autoTorch ? round(median(theirs.map((r) => r.seqPerSec)), 1) : t === 1 ? manualTorch : undefined;
    const ratio = autoTorch
      ? round(median(mine.map((r, i) => r.seqPerSec / ((theirs[i]!.seqPerSec + theirs[i + 1]!.seqPerSec) / 2))), 3)
      : torchSeqPerSec !== undefined ? round(seqPerSec / torchSeqPerSec, 3) : null;
    return {
      threads: t, seqPerSec, stepMs: round(median(mine.map((r) => r.stepMs)), 2), cpuSeqPerSec: round(median(mine.map((r) => r.cpuSeqPerSec)), 1),
      torchSeqPerSec: torchSeqPerSec ?? null, ratio, runs: { ours: mine.map((r) => r.seqPerSec), torch: theirs.map((r) => r.seqPerSec) },
      loss: mine[mine.length - 1]!.loss,
      ...(autoTorch ? { torchLoss: theirs[theirs.length - 1]!.loss } : {}),
    };
  };
  const byThreads = counts.map(summary);
  const first = byThreads[0]!;
  const one = counts.indexOf(1);
  const scaling = one < 0 ? undefined : Object.fromEntries(counts.filter((t) => t > 1).map((t) => [String(t),
    round(median(ours.get(t)!.map((r, i) => r.seqPerSec / ours.get(1)![i]!.seqPerSec)), 3)]));
  const torchCpu = o.torchCpuRef !== undefined ? Number(o.torchCpuRef) : undefined;
  const anyRef = refs.get(counts[0]!)!;
  const result = {
    config: 'bert4rec-64',
    path: 'trainLocal',
    backend: ours.get(counts[0]!)![0]!.backend,
    ...first,
    ...(sampledNegatives !== undefined ? { sampledNegatives } : {}),
    torchSource: autoTorch ? 'interleaved' : manualTorch !== undefined ? '--torch-ref' : null,
    ...(byThreads.length > 1 ? { byThreads, scaling } : {}),
    ...(anyRef.length > 0 ? { torchVersion: anyRef[0]!.torch, torchBlas: blas } : {}),
    ...(torchCpu !== undefined && torchCpu > 0 ? { torchCpuSeqPerSec: torchCpu, cpuRatio: round(first.cpuSeqPerSec / torchCpu, 3) } : {}),
    ...(stock ? { stock, ratioVsStock: round(first.seqPerSec / stock.seqPerSec, 2) } : {}),
    cores,
    loadAvg1m: round(os.loadavg()[0]!, 2),
    params: ours.get(counts[0]!)![0]!.params,
    batch: B,
    steps,
    warmup,
    ...(profile ? { profileMs: profile } : {}),
    warnings,
  };
  const json = JSON.stringify(result);
  console.log(json);
  if (o.out) writeFileSync(o.out, json + '\n');
}

main().catch((e: unknown) => {
  console.error(isFedProfileError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));
  process.exit(1);
});
