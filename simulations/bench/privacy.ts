/**
 * Privacy, robustness and compression measurements on one experiment file, through the real simulator
 * (`runSimulation`, the path `fedprofile simulate` runs). Every variant runs the experiment's first
 * federated strategy only, with the same seed, data and model.
 *
 *   npm run bench:privacy -- [--config FILE] [--suite dp,attack,compression,peft] [--out FILE]
 *                            [--clip-norm C|auto] [--attack-fraction F] [--max-norm N|auto] [--rounds N] [--plain]
 *                            [--pretrain-rounds N] [--lora-rank R] [--adapter-size R] [--schedules P+F,...]
 *                            [--variants full,bitfit,lora,lora-q8,adapter,adapter-q8]
 *
 * dp:          ε at noise multiplier 1.0 (accountant only), then NDCG@10 at ε = ∞, 8 and 3 (noise calibrated to
 *              each target over the run's rounds; DP-FedAvg distributed under SecAgg, central otherwise).
 * attack:      plain mode (robust rules need it); no attack, then sign-flip (×−4) and scaled-update (×10) attackers
 *              against the mean, median, trimmed mean, multi-Krum and norm bounding.
 * compression: plain mode; float32 both ways, f16 down + q8 (error feedback) up, f16 down + top-k 1 % up.
 * peft:        plain mode; per pre-training + fine-tuning schedule (--schedules, default the experiment's own):
 *              full fine-tuning, BitFit + heads, LoRA + heads, LoRA + heads with q8 both ways, bottleneck adapters
 *              + heads (--variants); NDCG@10 against full fine-tuning's best schedule, steady-state bytes per client
 *              and fine-tuning round, and the one-off bytes (encoder download after pre-training, statistics).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { loadSimulationConfig, type SimulationConfig } from '../config.js';
import { runSimulation } from '../runner.js';
import { computeEpsilon, noiseForEpsilon } from '../../shared/privacy/rdp.js';
import { distributedNoiseStd } from '../../shared/privacy/dp-fedavg.js';
import { plannedContributorsOf } from '../federated/client-transforms.js';
import { isFedProfileError } from '../../shared/errors.js';

interface VariantResult {
  variant: string;
  ndcg10: number;
  /** The learned model's own NDCG@10 and the statistics' alone (null without transition statistics). */
  ndcg10Model: number | null;
  ndcg10Statistics: number | null;
  hr10: number;
  auc: number;
  interestP3: number;
  tierAcc: number;
  rounds: number;
  epsilon: number | null;
  noiseMultiplier?: number;
  bytesUpPerRound: number;
  bytesDownPerRound: number;
  seconds: number;
  clientsUsed: number;
  /** Median over rounds of the median honest client update norm (for calibrating clip and norm bounds). */
  honestNormMedian: number | null;
  /** Fine-tuning rounds only (pre-training always ships the whole model). */
  finetuneBytesUpPerRound: number;
  finetuneBytesDownPerRound: number;
  /**
   * Per client (up: per contributor, down: per invited client), median over fine-tuning rounds: what a
   * fine-tuning round costs each client once the one-off transfers are done.
   */
  steadyBytesPerClient: { up: number; down: number };
  /** Fine-tuning bytes of the whole run beyond steady state (encoder download after pre-training, statistics). */
  oneOffBytes: { up: number; down: number };
  /** Per client and pre-training round (whole model both ways). */
  pretrainBytesPerClient: { up: number; down: number } | null;
  /** Per-client bytes of each fine-tuning round, in order. */
  finetuneRoundsPerClient: Array<{ up: number; down: number }>;
}

function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

async function runVariant(variant: string, cfg: SimulationConfig, extra: { noiseMultiplier?: number } = {}): Promise<VariantResult> {
  const out = mkdtempSync(join(tmpdir(), 'fp-bench-privacy-'));
  try {
    const t0 = performance.now();
    const r = await runSimulation(cfg, { outDir: out, plots: false });
    const name = cfg.strategies[0]!.name;
    const s = r.summary.strategies[name]!;
    const lines = readFileSync(r.metricsPath, 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l) as { phase: string; bytesUp: number; bytesDown: number; clientsSelected: number; clientsCompleted: number; aggregation?: Record<string, number> });
    const norms = lines.map((l) => l.aggregation?.honestUpdateNormMedian).filter((x): x is number => x !== undefined);
    const fine = lines.filter((l) => l.phase === 'finetune');
    const pre = lines.filter((l) => l.phase !== 'finetune');
    const perRound = (k: 'bytesUp' | 'bytesDown') => (fine.length ? fine.reduce((a, l) => a + l[k], 0) / fine.length : NaN);
    type Line = (typeof lines)[number];
    const client = (l: Line) => ({ up: l.bytesUp / Math.max(1, l.clientsCompleted), down: l.bytesDown / Math.max(1, l.clientsSelected) });
    const steady = { up: median(fine.map((l) => client(l).up)) ?? NaN, down: median(fine.map((l) => client(l).down)) ?? NaN };
    const oneOff = {
      up: fine.reduce((a, l) => a + l.bytesUp - steady.up * l.clientsCompleted, 0),
      down: fine.reduce((a, l) => a + l.bytesDown - steady.down * l.clientsSelected, 0),
    };
    const res: VariantResult = {
      variant, ndcg10: s.ndcg10, ndcg10Model: s.ndcg10Model ?? null, ndcg10Statistics: s.ndcg10Statistics ?? null,
      hr10: s.hr10, auc: s.auc, interestP3: s.interestP3, tierAcc: s.tierAcc, rounds: s.rounds, epsilon: s.privacy?.epsilon ?? null,
      bytesUpPerRound: s.bytesPerRound?.up ?? NaN, bytesDownPerRound: s.bytesPerRound?.down ?? NaN,
      seconds: (performance.now() - t0) / 1000, clientsUsed: (r.summary.partition as { clientsUsed: number }).clientsUsed, honestNormMedian: median(norms),
      finetuneBytesUpPerRound: perRound('bytesUp'), finetuneBytesDownPerRound: perRound('bytesDown'),
      steadyBytesPerClient: steady, oneOffBytes: oneOff,
      pretrainBytesPerClient: pre.length ? client(pre[0]!) : null,
      finetuneRoundsPerClient: fine.map(client), ...extra,
    };
    process.stderr.write(`${JSON.stringify(res)}\n`);
    return res;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** float32 both ways: changes no byte, but runs the loop that measures honest update norms. */
const F32_WIRE = { download: 'f32', upload: 'f32', topkFraction: 0.01 } as const;

/** The median honest update norm of a run; 'auto' settings need it, so its absence is an error, not a default. */
function measuredNorm(r: VariantResult, option: string): number {
  if (r.honestNormMedian === null || !(r.honestNormMedian > 0)) {
    throw new Error(`${option} auto: the "${r.variant}" run reported no honest update norm; pass a number`);
  }
  return r.honestNormMedian;
}

function federatedOnly(cfg: SimulationConfig, rounds?: number): SimulationConfig {
  const fed = cfg.strategies.find((s) => s.name !== 'centralized' && s.name !== 'local');
  if (!fed) throw new Error('the experiment lists no federated strategy');
  // Each suite sets attack, robust rule, DP, compression and PEFT itself; the experiment's own are dropped.
  const { attack: _a, robustAggregation: _r, dp: _d, compression: _c, peft: _p, ...rest } = cfg;
  return { ...rest, strategies: [fed], training: { ...cfg.training, ...(rounds !== undefined ? { rounds } : {}) } };
}

async function main(): Promise<void> {
  const program = new Command()
    .name('bench:privacy')
    .option('--config <file>', 'experiment file', 'simulations/experiments/demo-sim.json')
    .option('--suite <list>', 'comma-separated: dp, attack, compression, peft', 'dp,attack,compression')
    .option('--clip-norm <c>', 'DP-FedAvg clip norm C ("auto": the median honest update norm of the no-DP run)', 'auto')
    .option('--attack-fraction <f>', 'fraction of attacking clients', '0.15')
    .option('--max-norm <n>', 'norm-bounding threshold ("auto": the median honest update norm of the no-attack run)', 'auto')
    .option('--rounds <n>', 'override training.rounds')
    .option('--pretrain-rounds <n>', 'override training.pretrainRounds (PEFT fine-tunes a pre-trained encoder)')
    .option('--lora-rank <r>', 'LoRA rank for the peft suite', '4')
    .option('--adapter-size <r>', 'bottleneck adapter size for the peft suite', '4')
    .option('--schedules <list>', 'peft suite: comma-separated PRETRAIN+FINETUNE round schedules (default: the experiment\'s own)')
    .option('--seeds <list>', 'peft suite: comma-separated seeds (default: the experiment\'s own); every variant runs on each')
    .option('--variants <list>', 'peft suite: full, bitfit, lora, lora-q8, adapter, adapter-q8', 'full,bitfit,lora,lora-q8,adapter')
    .option('--plain', 'turn secure aggregation off (DP then runs in central mode)')
    .option('--out <file>', 'also write the JSON here');
  program.parse();
  const o = program.opts<{
    config: string; suite: string; clipNorm: string; attackFraction: string; maxNorm: string; rounds?: string; pretrainRounds?: string; loraRank: string; adapterSize: string; schedules?: string; variants: string; seeds?: string;
    plain?: boolean; out?: string;
  }>();
  const fromFile = federatedOnly(loadSimulationConfig(o.config), o.rounds !== undefined ? Number(o.rounds) : undefined);
  const loaded = o.pretrainRounds === undefined ? fromFile : { ...fromFile, training: { ...fromFile.training, pretrainRounds: Number(o.pretrainRounds) } };
  const base: SimulationConfig = o.plain ? { ...loaded, secureAggregation: { ...loaded.secureAggregation, enabled: false } } : loaded;
  const suites = new Set(o.suite.split(',').map((s) => s.trim()));
  const result: Record<string, unknown> = {
    config: o.config, seed: base.seed, rounds: base.training.pretrainRounds + base.training.rounds, secureAggregation: base.secureAggregation.enabled,
  };

  // Every round samples clientsPerRound of the clients (default: all) without replacement.
  const clients = base.clients ?? 10;
  const steps = base.training.pretrainRounds + base.training.rounds;

  if (suites.has('dp')) {
    // The no-op f32 codec keeps the wire settings of the other variants; honest update norms are reported for any protection.
    const probe = await runVariant('no DP (ε = ∞)', { ...base, compression: F32_WIRE });
    const clipNorm = o.clipNorm === 'auto' ? measuredNorm(probe, '--clip-norm') : Number(o.clipNorm);
    const n = probe.clientsUsed;
    const perRound = Math.min(base.training.clientsPerRound ?? n, n);
    const q = perRound / n;
    const delta = 1e-5;
    const at1 = computeEpsilon({ samplingRate: q, noiseMultiplier: 1, steps, delta, sampling: 'fixed-size' });
    const rows: VariantResult[] = [probe];
    for (const target of [8, 3]) {
      const z = noiseForEpsilon({ targetEpsilon: target, samplingRate: q, steps, delta, sampling: 'fixed-size' });
      const secagg = base.secureAggregation.enabled;
      const clip = secagg ? Math.max(base.secureAggregation.clip, 4 * distributedNoiseStd(clipNorm, z, plannedContributorsOf(base, perRound))) : base.secureAggregation.clip;
      const cfg: SimulationConfig = {
        ...base, secureAggregation: { ...base.secureAggregation, clip },
        dp: { enabled: true, clipNorm, noiseMultiplier: z, delta, sampling: 'fixed-size' },
      };
      rows.push(await runVariant(`DP ε = ${target}`, cfg, { noiseMultiplier: z }));
    }
    result.dp = { samplingRate: q, steps, delta, clipNorm, epsilonAtNoise1: at1.epsilon, epsilonAtNoise1Order: at1.order, runs: rows };
  }

  if (suites.has('attack')) {
    const plain: SimulationConfig = { ...base, secureAggregation: { ...base.secureAggregation, enabled: false } };
    const fraction = Number(o.attackFraction);
    const n = clients;
    const f = Math.max(1, Math.round(fraction * n));
    const clean = await runVariant('no attack, mean', { ...plain, compression: F32_WIRE });
    const rows: VariantResult[] = [clean];
    const maxNorm = o.maxNorm === 'auto' ? measuredNorm(clean, '--max-norm') : Number(o.maxNorm);
    const rules = [
      { label: 'mean', rule: undefined },
      { label: 'median', rule: { rule: 'median' as const } },
      { label: 'trimmed-mean', rule: { rule: 'trimmed-mean' as const, trimFraction: Math.min(0.45, Math.max(0.2, fraction + 0.05)) } },
      { label: 'multi-krum', rule: { rule: 'multi-krum' as const, byzantine: f } },
      { label: 'norm-bound', rule: { rule: 'norm-bound' as const, maxNorm } },
    ];
    for (const kind of ['sign-flip', 'scale'] as const) {
      for (const r of rules) {
        const cfg: SimulationConfig = { ...plain, attack: { fraction, kind, scale: kind === 'scale' ? 10 : 4 }, ...(r.rule ? { robustAggregation: r.rule } : {}) };
        rows.push(await runVariant(`${kind}, ${r.label}`, cfg));
      }
    }
    result.attack = { fraction, attackers: f, normBound: maxNorm, runs: rows };
  }

  if (suites.has('compression')) {
    const plain: SimulationConfig = { ...base, secureAggregation: { ...base.secureAggregation, enabled: false } };
    const rows: VariantResult[] = [];
    rows.push(await runVariant('f32 down, f32 up', plain));
    rows.push(await runVariant('f16 down, q8 up (error feedback)', { ...plain, compression: { download: 'f16', upload: 'q8', topkFraction: 0.01 } }));
    rows.push(await runVariant('f16 down, top-k 1 % up (error feedback)', { ...plain, compression: { download: 'f16', upload: 'topk', topkFraction: 0.01 } }));
    result.compression = { runs: rows };
  }

  if (suites.has('peft')) {
    const plain: SimulationConfig = { ...base, secureAggregation: { ...base.secureAggregation, enabled: false } };
    const rank = Number(o.loraRank);
    const adapterSize = Number(o.adapterSize);
    const total = base.training.pretrainRounds + base.training.rounds;
    const schedules = (o.schedules ?? `${base.training.pretrainRounds}+${base.training.rounds}`).split(',').map((sch) => {
      const [p, f] = sch.split('+').map(Number);
      if (!Number.isInteger(p) || !Number.isInteger(f) || p! < 0 || f! < 1) throw new Error(`--schedules: "${sch}" is not PRETRAIN+FINETUNE rounds`);
      return { pretrainRounds: p!, rounds: f!, label: `${p} + ${f}` };
    });
    const wanted = new Set(o.variants.split(',').map((v) => v.trim()));
    const known = ['full', 'bitfit', 'lora', 'lora-q8', 'adapter', 'adapter-q8'];
    for (const v of wanted) if (!known.includes(v)) throw new Error(`--variants: unknown "${v}" (known: ${known.join(', ')})`);
    const variants: Array<{ key: string; label: string; cfg: (c: SimulationConfig) => SimulationConfig }> = [
      // Explicit f32 compression: the same wire settings as the PEFT variants.
      { key: 'full', label: 'full fine-tuning, f32', cfg: (c) => ({ ...c, compression: F32_WIRE }) },
      { key: 'bitfit', label: 'PEFT (BitFit + heads), f32', cfg: (c) => ({ ...c, peft: { method: 'bitfit' } }) },
      { key: 'lora', label: `PEFT (LoRA r = ${rank} + heads), f32`, cfg: (c) => ({ ...c, model: { ...c.model, loraRank: rank }, peft: { method: 'lora' } }) },
      {
        key: 'lora-q8', label: `PEFT (LoRA r = ${rank} + heads), q8 both ways (error feedback up)`,
        cfg: (c) => ({ ...c, model: { ...c.model, loraRank: rank }, peft: { method: 'lora' }, compression: { download: 'q8', upload: 'q8', topkFraction: 0.01 } }),
      },
      { key: 'adapter', label: `PEFT (adapters r = ${adapterSize} + heads), f32`, cfg: (c) => ({ ...c, model: { ...c.model, adapterSize }, peft: { method: 'adapter' } }) },
      {
        key: 'adapter-q8', label: `PEFT (adapters r = ${adapterSize} + heads), q8 both ways (error feedback up)`,
        cfg: (c) => ({ ...c, model: { ...c.model, adapterSize }, peft: { method: 'adapter' }, compression: { download: 'q8', upload: 'q8', topkFraction: 0.01 } }),
      },
    ];
    const seeds = o.seeds === undefined ? [plain.seed] : o.seeds.split(',').map(Number);
    if (seeds.some((x) => !Number.isInteger(x))) throw new Error(`--seeds: "${o.seeds}" is not a list of integers`);
    const runs: Array<VariantResult & { key: string; schedule: string; seed: number }> = [];
    for (const seed of seeds) {
      for (const sch of schedules) {
        const cfg: SimulationConfig = { ...plain, seed, training: { ...plain.training, pretrainRounds: sch.pretrainRounds, rounds: sch.rounds } };
        for (const v of variants) {
          if (!wanted.has(v.key)) continue;
          const r = await runVariant(`${v.label}, ${sch.label}, seed ${seed}`, v.cfg(cfg));
          runs.push({ ...r, key: v.key, schedule: sch.label, seed });
        }
      }
    }
    // Mean NDCG@10 over the seeds per (variant, schedule); each PEFT row against full fine-tuning's best
    // schedule: quality ratio, and the byte shrink per client and steady-state fine-tuning round (the one-off
    // transfers are in each run's oneOffBytes).
    const groups = new Map<string, typeof runs>();
    for (const r of runs) groups.set(`${r.key}|${r.schedule}`, [...(groups.get(`${r.key}|${r.schedule}`) ?? []), r]);
    const means = [...groups.values()].map((g) => ({
      key: g[0]!.key, schedule: g[0]!.schedule, variant: g[0]!.variant.replace(/, seed \d+$/, ''),
      ndcg10: g.reduce((a, r) => a + r.ndcg10, 0) / g.length, ndcg10BySeed: g.map((r) => r.ndcg10),
      ndcg10ModelBySeed: g.map((r) => r.ndcg10Model), aucBySeed: g.map((r) => r.auc),
      interestP3BySeed: g.map((r) => r.interestP3), tierAccBySeed: g.map((r) => r.tierAcc),
      steadyBytesPerClient: g[0]!.steadyBytesPerClient, oneOffBytes: g[0]!.oneOffBytes,
    }));
    const fulls = means.filter((r) => r.key === 'full');
    const best = fulls.length ? fulls.reduce((a, b) => (b.ndcg10 > a.ndcg10 ? b : a)) : undefined;
    const versus = best ? means.filter((r) => r.key !== 'full').map((r) => ({
      variant: r.variant, ndcg10: r.ndcg10, ndcgVsBestFull: r.ndcg10 / best.ndcg10,
      steadyShrink: { up: best.steadyBytesPerClient.up / r.steadyBytesPerClient.up, down: best.steadyBytesPerClient.down / r.steadyBytesPerClient.down },
    })) : [];
    result.peft = { loraRank: rank, adapterSize, seeds, bestFull: best ? { variant: best.variant, ndcg10: best.ndcg10 } : null, means, versusBestFull: versus, runs };
  }

  const json = JSON.stringify(result, null, 2);
  process.stdout.write(`${json}\n`);
  if (o.out) writeFileSync(o.out, `${json}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:privacy: ${isFedProfileError(e) ? e.message : e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
