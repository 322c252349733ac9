import { FedProfileError } from '../errors.js';
import { yieldToEventLoop } from '../event-loop.js';
import { DEFAULT_YIELD_EVERY } from './mean.js';
import { float32FromLittleEndianBytes, float32ToLittleEndianBytes } from '../weights/bytes.js';

/**
 * Server-side optimisers that treat the round's weighted mean client delta Δ as a pseudo-gradient step
 * (Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2; FedAvgM from Hsu et al. 2019):
 *   FedAvg:     x ← x + η·Δ
 *   FedAvgM:    v ← μ·v + Δ;                              x ← x + η·v
 *   FedAdagrad: m ← β1·m + (1−β1)·Δ;  v ← v + Δ²;          x ← x + η·m/(√v + τ)
 *   FedAdam:    m ← β1·m + (1−β1)·Δ;  v ← β2·v + (1−β2)·Δ²; x ← x + η·m/(√v + τ)
 *   FedYogi:    m ← β1·m + (1−β1)·Δ;  v ← v − (1−β2)·Δ²·sign(v − Δ²); x ← x + η·m/(√v + τ)
 * with m₀ = 0 and, as in the paper, v₀ = τ² for the adaptive methods (no bias correction).
 * Every step is pure: it returns new weights and a new state and never mutates its inputs.
 */
export type ServerOptimizerName = 'fedavg' | 'fedavgm' | 'fedadagrad' | 'fedadam' | 'fedyogi';

export interface ServerOptimizerConfig {
  name: ServerOptimizerName;
  /** η, the server learning rate. */
  learningRate: number;
  /** μ, FedAvgM's server momentum. */
  momentum: number;
  beta1: number;
  beta2: number;
  /** τ, the adaptivity (numerical stability) constant. */
  tau: number;
}

export interface ServerOptimizerState {
  name: ServerOptimizerName;
  /** Number of steps taken. */
  step: number;
  /** First moment (FedAvgM: the momentum buffer); null before the first step or when unused. */
  m: Float32Array | null;
  /** Second moment; null before the first step or when unused. */
  v: Float32Array | null;
}

export interface ServerOptimizer {
  readonly config: Readonly<ServerOptimizerConfig>;
  initialState(): ServerOptimizerState;
  /**
   * One server step, yielding to the event loop every `yieldEvery` elements (the coordinator's socket server
   * keeps serving during a 10M-parameter step); the result does not depend on `yieldEvery`.
   */
  step(global: Float32Array, meanDelta: Float32Array, state: ServerOptimizerState, yieldEvery?: number): Promise<{ weights: Float32Array; state: ServerOptimizerState }>;
}

export const SERVER_OPTIMIZER_DEFAULTS: Record<ServerOptimizerName, Omit<ServerOptimizerConfig, 'name'>> = {
  fedavg: { learningRate: 1, momentum: 0, beta1: 0, beta2: 0, tau: 0 },
  fedavgm: { learningRate: 1, momentum: 0.9, beta1: 0, beta2: 0, tau: 0 },
  fedadagrad: { learningRate: 0.1, momentum: 0, beta1: 0.9, beta2: 0, tau: 1e-3 },
  fedadam: { learningRate: 0.01, momentum: 0, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
  fedyogi: { learningRate: 0.01, momentum: 0, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
};

function checkLengths(global: Float32Array, meanDelta: Float32Array, state: ServerOptimizerState): void {
  if (global.length !== meanDelta.length) {
    throw new FedProfileError('BAD_INPUT', `server step: global has ${global.length} elements, delta has ${meanDelta.length}`);
  }
  for (const [key, arr] of [['m', state.m], ['v', state.v]] as const) {
    if (arr && arr.length !== global.length) {
      throw new FedProfileError('BAD_INPUT', `server optimiser state ${key} has ${arr.length} elements, model has ${global.length}`);
    }
  }
}

export function createServerOptimizer(partial: Partial<ServerOptimizerConfig> & { name: ServerOptimizerName }): ServerOptimizer {
  const defaults = SERVER_OPTIMIZER_DEFAULTS[partial.name];
  if (!defaults) throw new FedProfileError('BAD_CONFIG', `unknown server optimiser "${String(partial.name)}"`);
  const config: ServerOptimizerConfig = { ...defaults, ...partial };
  for (const k of ['learningRate', 'momentum', 'beta1', 'beta2', 'tau'] as const) {
    if (!Number.isFinite(config[k]) || config[k] < 0) throw new FedProfileError('BAD_CONFIG', `server optimiser ${k} must be finite and ≥ 0, got ${config[k]}`);
  }
  const { name, learningRate: eta, momentum: mu, beta1: b1, beta2: b2, tau } = config;

  const initialState = (): ServerOptimizerState => ({ name, step: 0, m: null, v: null });

  /** Allocates the outputs of one step; stepRange then fills any slice of them independently. */
  const prepare = (global: Float32Array, delta: Float32Array, state: ServerOptimizerState) => {
    if (state.name !== name) throw new FedProfileError('BAD_INPUT', `server optimiser state is for ${state.name}, not ${name}`);
    checkLengths(global, delta, state);
    const n = global.length;
    const next: ServerOptimizerState = {
      name,
      step: state.step + 1,
      m: name === 'fedavg' ? null : new Float32Array(n),
      v: name === 'fedavg' || name === 'fedavgm' ? null : new Float32Array(n),
    };
    return { weights: new Float32Array(n), state: next };
  };

  const stepRange = (
    global: Float32Array, delta: Float32Array, prev: ServerOptimizerState, out: { weights: Float32Array; state: ServerOptimizerState },
    from: number, to: number,
  ): void => {
    const weights = out.weights;
    if (name === 'fedavg') {
      for (let i = from; i < to; i++) weights[i] = global[i]! + eta * delta[i]!;
      return;
    }
    const m = out.state.m!;
    const prevM = prev.m;
    if (name === 'fedavgm') {
      for (let i = from; i < to; i++) {
        m[i] = (prevM ? mu * prevM[i]! : 0) + delta[i]!;
        weights[i] = global[i]! + eta * m[i]!;
      }
      return;
    }
    const v = out.state.v!;
    const prevV = prev.v;
    const v0 = tau * tau;
    for (let i = from; i < to; i++) {
      const d = delta[i]!;
      const d2 = d * d;
      m[i] = b1 * (prevM ? prevM[i]! : 0) + (1 - b1) * d;
      const vPrev = prevV ? prevV[i]! : v0;
      if (name === 'fedadam') v[i] = b2 * vPrev + (1 - b2) * d2;
      else if (name === 'fedyogi') v[i] = vPrev - (1 - b2) * d2 * Math.sign(vPrev - d2);
      else v[i] = vPrev + d2;
      // Use the stored (float32) moments so a resumed run takes exactly the same step.
      weights[i] = global[i]! + (eta * m[i]!) / (Math.sqrt(v[i]!) + tau);
    }
  };

  const step = async (global: Float32Array, delta: Float32Array, state: ServerOptimizerState, yieldEvery: number = DEFAULT_YIELD_EVERY) => {
    if (!Number.isInteger(yieldEvery) || yieldEvery < 1) throw new FedProfileError('BAD_INPUT', `yieldEvery must be a positive integer, got ${yieldEvery}`);
    const out = prepare(global, delta, state);
    for (let from = 0; from < global.length; from += yieldEvery) {
      stepRange(global, delta, state, out, from, Math.min(global.length, from + yieldEvery));
      await yieldToEventLoop();
    }
    return out;
  };

  return { config, initialState, step };
}

/** JSON-safe form of the state: moments as base64 little-endian float32, so resume is bit-exact. */
export interface SerializedServerOptimizerState {
  name: ServerOptimizerName;
  step: number;
  m: string | null;
  v: string | null;
}

const encode = (a: Float32Array | null): string | null => (a ? Buffer.from(float32ToLittleEndianBytes(a)).toString('base64') : null);

export function serializeServerOptimizerState(state: ServerOptimizerState): SerializedServerOptimizerState {
  return { name: state.name, step: state.step, m: encode(state.m), v: encode(state.v) };
}

export function deserializeServerOptimizerState(input: unknown): ServerOptimizerState {
  const s = input as Partial<SerializedServerOptimizerState> | null;
  if (!s || typeof s !== 'object' || typeof s.name !== 'string' || !(s.name in SERVER_OPTIMIZER_DEFAULTS) || !Number.isInteger(s.step) || (s.step as number) < 0) {
    throw new FedProfileError('INTEGRITY', 'server optimiser state is malformed (needs name, step, m, v)');
  }
  const decode = (key: 'm' | 'v'): Float32Array | null => {
    const b64 = s[key];
    if (b64 === null || b64 === undefined) return null;
    if (typeof b64 !== 'string') throw new FedProfileError('INTEGRITY', `server optimiser state ${key} must be base64 or null`);
    const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
    if (bytes.length % 4 !== 0) throw new FedProfileError('INTEGRITY', `server optimiser state ${key} is not whole float32 values`);
    return float32FromLittleEndianBytes(bytes, 0, bytes.length / 4);
  };
  return { name: s.name as ServerOptimizerName, step: s.step as number, m: decode('m'), v: decode('v') };
}

/**
 * Binary form of the state, written beside each checkpoint (optimizer.bin): "FPSO", a little-endian u32
 * header length, a JSON header {format, name, step, m, v} (m and v: element counts or null), zero padding
 * to a 4-byte boundary, then m and v as little-endian float32. At 10M parameters that is 80 MB of raw
 * moments instead of ~107 MB of base64 inside one SQLite row.
 */
const STATE_MAGIC = 'FPSO';

export function encodeServerOptimizerState(state: ServerOptimizerState): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ format: 1, name: state.name, step: state.step, m: state.m?.length ?? null, v: state.v?.length ?? null }));
  const start = Math.ceil((8 + header.length) / 4) * 4;
  const mBytes = (state.m?.length ?? 0) * 4;
  const out = new Uint8Array(start + mBytes + (state.v?.length ?? 0) * 4);
  out.set(new TextEncoder().encode(STATE_MAGIC), 0);
  new DataView(out.buffer).setUint32(4, header.length, true);
  out.set(header, 8);
  if (state.m) out.set(float32ToLittleEndianBytes(state.m), start);
  if (state.v) out.set(float32ToLittleEndianBytes(state.v), start + mBytes);
  return out;
}

export function decodeServerOptimizerState(bytes: Uint8Array, where = 'optimizer state'): ServerOptimizerState {
  const bad = (why: string) => new FedProfileError('INTEGRITY', `${where}: ${why}`);
  if (bytes.length < 8 || new TextDecoder().decode(bytes.subarray(0, 4)) !== STATE_MAGIC) throw bad('not a fedprofile optimiser state file');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  if (8 + headerLength > bytes.length) throw bad('truncated header');
  let h: { format?: unknown; name?: unknown; step?: unknown; m?: unknown; v?: unknown };
  try {
    h = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as typeof h;
  } catch {
    throw bad('unreadable header');
  }
  const count = (x: unknown): number | null => (x === null ? null : Number.isInteger(x) && (x as number) >= 0 ? (x as number) : -1);
  const m = count(h.m);
  const v = count(h.v);
  if (h.format !== 1 || typeof h.name !== 'string' || !(h.name in SERVER_OPTIMIZER_DEFAULTS) || !Number.isInteger(h.step) || (h.step as number) < 0 || m === -1 || v === -1) {
    throw bad('malformed header');
  }
  const start = Math.ceil((8 + headerLength) / 4) * 4;
  if (bytes.length !== start + ((m ?? 0) + (v ?? 0)) * 4) throw bad(`${bytes.length} bytes, the header describes ${start + ((m ?? 0) + (v ?? 0)) * 4}`);
  return {
    name: h.name as ServerOptimizerName, step: h.step as number,
    m: m === null ? null : float32FromLittleEndianBytes(bytes, start, m),
    v: v === null ? null : float32FromLittleEndianBytes(bytes, start + (m ?? 0) * 4, v),
  };
}
