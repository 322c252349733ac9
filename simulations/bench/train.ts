/**
 * Training benchmark "bert4rec-64": the workload of ../shared/reference/bert4rec_torch.py (B=32, L=50, item
 * vocabulary 5000+2, d=64, 2 post-LN blocks, 2 heads, FF 256, mask p=0.2, Cloze CE over the full vocabulary
 * at masked positions only, Adam 1e-3, dropout 0, 3 warm-up + 20 timed steps, random ids).
 *
 *   npm run bench:train -- [--out FILE] [--steps N] [--backend wasm] [--torch-ref SEQ_PER_S] [--no-stock]
 *
 * "stock" is the same model on the same backend with plain autodiff ops, tf.train.adam and without the wasm
 * speed patches, measured in a child process of the same run so neither variant warms the other's caches.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { BERT4REC_64 } from '../../shared/model/config.js';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { createTrainSteps } from '../../shared/model/train-step.js';
import type { ModelBatch } from '../../shared/model/batch.js';
import { BACKEND_CHOICES, initBackend, setWasmPatches, type BackendChoice } from '../../shared/tf/backend.js';
import { isFedProfileError } from '../../shared/errors.js';

const B = 32;
const MASK_P = 0.2;

/** cpu* figures use this process's CPU time instead of wall time: far less sensitive to other load on the host. */
interface RunResult { backend: string; seqPerSec: number; stepMs: number; cpuStepMs: number; cpuSeqPerSec: number; loss: number; params: number; profile?: Record<string, number> }

/** Random ids and a Bernoulli(0.2) mask built like the reference (no at-least-one rule). */
function referenceBatch(seed: number): { batch: ModelBatch; positions: tf.Tensor1D; targets: tf.Tensor1D } {
  const cfg = BERT4REC_64;
  const L = cfg.maxLen;
  const rng = seedrandom(String(seed));
  const inp = new Int32Array(B * L);
  const positions: number[] = [];
  const targets: number[] = [];
  for (let i = 0; i < B * L; i++) {
    const id = 2 + Math.floor(rng() * (cfg.itemVocab - 2));
    if (rng() < MASK_P) {
      positions.push(i);
      targets.push(id);
      inp[i] = 1;
    } else inp[i] = id;
  }
  const zeros = () => tf.zeros([B, L], 'int32') as tf.Tensor2D;
  const batch: ModelBatch = {
    item: tf.tensor2d(inp, [B, L], 'int32'), category: zeros(), action: zeros(), price: zeros(), gap: zeros(),
    text: tf.zeros([B, L, 0], 'int32') as tf.Tensor3D, size: B,
  };
  return { batch, positions: tf.tensor1d(positions, 'int32'), targets: tf.tensor1d(targets, 'int32') };
}

async function runVariant(variant: 'fast' | 'stock', backend: BackendChoice, steps: number, warmup: number, profile: boolean): Promise<RunResult> {
  const info = await initBackend(backend);
  if (info.name === 'wasm') setWasmPatches(variant === 'fast');
  const model = ProfileModel.create(BERT4REC_64, 0, { fusedOps: variant === 'fast' });
  const trainer = createTrainSteps(model, { learningRate: 1e-3, optimizer: 'adam', fusedAdam: variant === 'fast' });
  const { batch, positions, targets } = referenceBatch(0);
  const step = () => trainer.cloze(batch, positions, targets);
  for (let i = 0; i < warmup; i++) step();
  let loss = NaN;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < steps; i++) loss = step();
  const cpu = process.cpuUsage(c0);
  const stepMs = (performance.now() - t0) / steps;
  const cpuStepMs = (cpu.user + cpu.system) / 1000 / steps;
  let top: Record<string, number> | undefined;
  if (profile) {
    const p = await tf.profile(() => { step(); });
    const byKernel = new Map<string, number>();
    for (const k of p.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + Number(k.kernelTimeMs));
    top = Object.fromEntries([...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([k, v]) => [k, round(v, 1)]));
  }
  const params = model.paramCount('cloze');
  trainer.dispose();
  model.dispose();
  return {
    backend: info.name, seqPerSec: round((B * 1000) / stepMs, 1), stepMs: round(stepMs, 2),
    cpuStepMs: round(cpuStepMs, 2), cpuSeqPerSec: round((B * 1000) / cpuStepMs, 1), loss: round(loss, 4), params, profile: top };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function measureStockInChild(backend: BackendChoice, steps: number, warmup: number): Omit<RunResult, 'backend' | 'params' | 'profile'> {
  const self = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, ['--import', 'tsx', self, '--variant', 'stock', '--backend', backend, '--steps', String(steps), '--warmup', String(warmup), '--no-stock'], {
    encoding: 'utf8', maxBuffer: 16 << 20, env: process.env,
  });
  const line = child.stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (child.status !== 0 || line === undefined) {
    throw new Error(`stock measurement failed (exit ${child.status}): ${child.stderr.split('\n').filter((l) => l.length < 300).slice(-5).join(' | ')}`);
  }
  const r = JSON.parse(line) as RunResult;
  return { seqPerSec: r.seqPerSec, stepMs: r.stepMs, cpuStepMs: r.cpuStepMs, cpuSeqPerSec: r.cpuSeqPerSec, loss: r.loss };
}

async function main(): Promise<void> {
  const program = new Command()
    .name('bench:train')
    .description('Training throughput of the bert4rec-64 config (same workload as the PyTorch reference).')
    .option('--out <file>', 'also write the JSON result to this file')
    .option('--steps <n>', 'timed steps', '20')
    .option('--warmup <n>', 'warm-up steps', '3')
    .option('--backend <name>', `tfjs backend: ${BACKEND_CHOICES.join('|')}`, process.env.FEDPROFILE_BACKEND ?? 'wasm')
    .option('--torch-ref <seqPerSec>', 'PyTorch reference throughput measured on this machine, for the ratio')
    .option('--torch-cpu-ref <seqPerSec>', 'PyTorch reference throughput per CPU-second, for the CPU-time ratio')
    .option('--no-stock', 'skip the stock (unpatched, plain autodiff) measurement')
    .option('--no-profile', 'skip the per-kernel profile of one step')
    .addOption(new Option('--variant <v>', 'internal: fast|stock').default('fast').hideHelp())
    .parse();
  const o = program.opts<{ out?: string; steps: string; warmup: string; backend: string; torchRef?: string; torchCpuRef?: string; stock: boolean; profile: boolean; variant: string }>();
  const steps = Number(o.steps);
  const warmup = Number(o.warmup);
  if (!Number.isInteger(steps) || steps < 1 || !Number.isInteger(warmup) || warmup < 0) {
    throw new Error('--steps must be an integer >= 1 and --warmup an integer >= 0');
  }
  if (!(BACKEND_CHOICES as readonly string[]).includes(o.backend)) throw new Error(`--backend must be one of ${BACKEND_CHOICES.join(', ')}`);
  const backend = o.backend as BackendChoice;
  if (o.variant === 'stock') {
    console.log(JSON.stringify(await runVariant('stock', backend, steps, warmup, false)));
    return;
  }
  const fast = await runVariant('fast', backend, steps, warmup, o.profile);
  const stock = o.stock && fast.backend === 'wasm' ? measureStockInChild(backend, steps, warmup) : undefined;
  const torch = o.torchRef !== undefined ? Number(o.torchRef) : undefined;
  const torchCpu = o.torchCpuRef !== undefined ? Number(o.torchCpuRef) : undefined;
  const result = {
    config: 'bert4rec-64',
    backend: fast.backend,
    seqPerSec: fast.seqPerSec,
    stepMs: fast.stepMs,
    cpuSeqPerSec: fast.cpuSeqPerSec,
    cpuStepMs: fast.cpuStepMs,
    loadAvg1m: round(os.loadavg()[0]!, 2),
    ...(stock ? { stock, ratioVsStock: round(fast.seqPerSec / stock.seqPerSec, 2) } : {}),
    ...(torch !== undefined && torch > 0 ? { torchSeqPerSec: torch, ratioVsTorch: round(fast.seqPerSec / torch, 3) } : {}),
    ...(torchCpu !== undefined && torchCpu > 0 ? { torchCpuSeqPerSec: torchCpu, cpuRatioVsTorch: round(fast.cpuSeqPerSec / torchCpu, 3) } : {}),
    params: fast.params,
    loss: fast.loss,
    batch: B,
    steps,
    warmup,
    ...(fast.profile ? { profile: fast.profile } : {}),
  };
  const json = JSON.stringify(result);
  console.log(json);
  if (o.out) writeFileSync(o.out, json + '\n');
}

main().catch((e: unknown) => {
  console.error(isFedProfileError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));
  process.exit(1);
});
