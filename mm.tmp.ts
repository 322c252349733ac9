import * as tf from '@tensorflow/tfjs';
import { initBackend, setWasmPatches } from './shared/tf/backend.js';
await initBackend('wasm');
const a = tf.randomNormal([32, 2, 50, 32], 0, 1, 'float32', 1), b = tf.randomNormal([32, 2, 50, 32], 0, 1, 'float32', 2);
const p = tf.randomNormal([32, 2, 50, 50], 0, 1, 'float32', 3);
for (const patched of [false, true]) {
  setWasmPatches(patched);
  const cases: [string, () => tf.Tensor][] = [['qkT', () => tf.matMul(a, b, false, true)], ['pv', () => tf.matMul(p, b)], ['pTv', () => tf.matMul(p, b, true, false)]];
  for (const [n, f] of cases) {
    f().dispose(); const t0 = performance.now(); for (let i = 0; i < 10; i++) f().dispose();
    console.log(patched, n, ((performance.now() - t0) / 10).toFixed(2));
  }
}
setWasmPatches(false); const r1 = tf.matMul(p, b, true, false); const r3 = tf.matMul(a, b, false, true); setWasmPatches(true); const r2 = tf.matMul(p, b, true, false); const r4 = tf.matMul(a, b, false, true);
console.log(tf.max(tf.abs(tf.sub(r1, r2))).dataSync()[0], tf.max(tf.abs(tf.sub(r3, r4))).dataSync()[0]);
