import * as tf from '@tensorflow/tfjs';
import { initBackend } from './shared/tf/backend.js';
await initBackend('wasm');
const qkv = tf.randomNormal([1600, 192]); const pad2 = tf.zeros([1, 32, 1, 50]);
const heads = tf.transpose(tf.reshape(qkv, [32, 50, 6, 32]), [2, 0, 1, 3]);
const [q, k, v] = tf.split(heads, 3, 0);
const s = tf.matMul(q!, k!, false, true); const p = tf.softmax(s); const o = tf.matMul(p, v!);
const cases: Record<string, () => tf.Tensor | tf.Tensor[]> = {
  transposeIn: () => tf.transpose(tf.reshape(qkv, [32, 50, 6, 32]), [2, 0, 1, 3]),
  split0: () => tf.split(heads, 3, 0),
  mulq: () => tf.mul(q!, 0.17),
  qkT: () => tf.matMul(q!, k!, false, true),
  kT: () => tf.transpose(k!, [0, 1, 3, 2]),
  addPad: () => tf.add(s, pad2),
  softmax: () => tf.softmax(s),
  pv: () => tf.matMul(p, v!),
  transposeOut: () => tf.transpose(o, [1, 2, 0, 3]),
  pT_dy: () => tf.matMul(p, o, true, false),
  dy_vT: () => tf.matMul(o, v!, false, true),
};
const cpu: Record<string, number> = {};
for (let r = 0; r < 25; r++) for (const [kk, f] of Object.entries(cases)) { const c0 = process.cpuUsage(); tf.dispose(f() as tf.Tensor); const u = process.cpuUsage(c0); if (r >= 5) cpu[kk] = +(((cpu[kk] ?? 0) + (u.user + u.system) / 1000 / 20).toFixed(3)); }
console.log(JSON.stringify(cpu));
