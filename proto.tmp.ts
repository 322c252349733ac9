import * as tf from '@tensorflow/tfjs';
import { initBackend, setWasmPatches } from '/work/main/shared/tf/backend.js';
import { ProfileModel } from '/work/main/shared/model/profile-model.js';
import { BERT4REC_64 } from '/work/main/shared/model/config.js';
import { toBatch, clozeMask } from '/work/main/shared/model/batch.js';
import seedrandom from 'seedrandom';
const fused = process.argv[2] !== 'plain';
const patch = process.argv[3] !== 'nopatch';
await initBackend((process.env.BK as 'wasm') ?? 'wasm');
if (!patch) setWasmPatches(false);
const cfg = BERT4REC_64, B = 32, L = 50;
const rng = seedrandom('x');
const seqs = Array.from({ length: B }, () => {
  const item = Int32Array.from({ length: L }, () => 2 + Math.floor(rng() * 5000));
  const z = () => new Int32Array(L);
  return { item, category: z(), action: z(), price: z(), gap: z(), text: new Int32Array(0), length: L };
});
const m = clozeMask(seqs, 0.2, rng);
const batch = toBatch(m.inputs, cfg);
const pos = tf.tensor1d(m.positions, 'int32'), tgt = tf.tensor1d(m.targets, 'int32');
const model = ProfileModel.create(cfg, 0, { fusedOps: fused });
const opt = tf.train.adam(1e-3);
const step = () => { const l = opt.minimize(() => model.clozeLoss(batch, pos, tgt, false), true)!; const v = l.dataSync()[0]; l.dispose(); return v; };
for (let i = 0; i < 3; i++) step();
const n = 10; const t0 = performance.now(); let loss = 0;
for (let i = 0; i < n; i++) loss = step();
const ms = (performance.now() - t0) / n;
console.log(JSON.stringify({ fused, patch, ms, seqPerSec: B / ms * 1000, loss, tensors: tf.memory().numTensors }));
if (process.argv[4] === 'prof') {
  const p = await tf.profile(() => { step(); });
  const agg = new Map<string, number>();
  for (const k of p.kernels) agg.set(k.name, (agg.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  console.log(p.kernels.length, [...agg].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${k}:${v.toFixed(1)}`).join(' '));
}
if (process.argv[4] === 'prof') {
  const p = await tf.profile(() => { step(); });
  for (const k of p.kernels) if ((k.kernelTimeMs as number) > 3) console.log(k.name, JSON.stringify(k.inputShapes), (k.kernelTimeMs as number).toFixed(1));
}
