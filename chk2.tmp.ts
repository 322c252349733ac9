import * as tf from '@tensorflow/tfjs';
import { initBackend } from './shared/tf/backend.js';
await initBackend('wasm');
const t = tf.tensor1d([1, 3, 0], 'int32');
const o = tf.oneHot(t, 4, 1, 0, 'float32'); console.log(o.dtype); o.print();
tf.oneHot(t, 4).print();
tf.sub(tf.ones([3,4]), o).print();
