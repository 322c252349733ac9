import { expect } from 'chai';
import {
  createServerOptimizer, deserializeServerOptimizerState, serializeServerOptimizerState, type ServerOptimizerName,
} from '../../shared/aggregation/server-optimizers.js';
import { FedProfileError } from '../../shared/errors.js';

const global0 = Float32Array.of(1, -2);
const d1 = Float32Array.of(0.1, -0.2);
const d2 = Float32Array.of(-0.05, 0.3);

async function twoSteps(name: ServerOptimizerName, cfg: Record<string, number>): Promise<{ x1: Float32Array; x2: Float32Array }> {
  const opt = createServerOptimizer({ name, ...cfg });
  const s1 = await opt.step(global0, d1, opt.initialState());
  const s2 = await opt.step(s1.weights, d2, s1.state);
  return { x1: s1.weights, x2: s2.weights };
}

async function rejection(p: Promise<unknown>): Promise<Error & { message: string }> {
  try { await p; } catch (e) { return e as Error; }
  throw new Error('expected a rejection');
}

function close(actual: Float32Array, expected: number[], tol = 2e-6): void {
  expect(actual.length).to.equal(expected.length);
  expected.forEach((e, i) => expect(actual[i], `element ${i}`).to.be.closeTo(e, tol));
}

describe('aggregation: server optimisers (Reddi et al. 2021)', () => {
  it('FedAvg with η = 1 is global + Δ; η scales the step', async () => {
    close((await twoSteps('fedavg', {})).x1, [1.1, -2.2]);
    close((await twoSteps('fedavg', {})).x2, [1.05, -1.9]);
    close((await twoSteps('fedavg', { learningRate: 0.5 })).x1, [1.05, -2.1]);
  });

  it('FedAvgM: v ← μv + Δ, x ← x + ηv', async () => {
    const { x1, x2 } = (await twoSteps('fedavgm', { learningRate: 1, momentum: 0.9 }));
    close(x1, [1.1, -2.2]);
    // v2 = 0.9·[0.1,−0.2] + [−0.05,0.3] = [0.04, 0.12]
    close(x2, [1.14, -2.08]);
  });

  // Expected values computed by hand from the paper's update rules (m₀ = 0, v₀ = τ², no bias correction):
  // η = 0.1, β1 = 0.9, β2 = 0.99, τ = 0.01.
  const cfg = { learningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.01 };

  it('FedAdam: two steps match the hand-computed values', async () => {
    const { x1, x2 } = (await twoSteps('fedadam', cfg));
    // m1 = [0.01, −0.02]; v1 = 0.99·1e-4 + 0.01·[0.01, 0.04] = [1.99e-4, 4.99e-4]
    close(x1, [1.0414821816127866, -2.0618461549057074]);
    close(x2, [1.057546438640899, -2.0364957078555195]);
  });

  it('FedYogi: two steps match the hand-computed values and differ from FedAdam', async () => {
    const { x1, x2 } = (await twoSteps('fedyogi', cfg));
    // v1 = 1e-4 − 0.01·Δ²·sign(1e-4 − Δ²) = [2e-4, 5e-4] → x1 = 1 + 0.1·0.01/(√2e-4 + 0.01)
    close(x1, [1 + 0.001 / (Math.sqrt(2e-4) + 0.01), -2 - 0.002 / (Math.sqrt(5e-4) + 0.01)]);
    close(x1, [1.0414213562373096, -2.0618033988749893]);
    close(x2, [1.0574213562373096, -2.036495792227845]);
  });

  it('steps are pure and the state survives JSON serialisation bit for bit (crash-safe resume)', async () => {
    const opt = createServerOptimizer({ name: 'fedyogi', ...cfg });
    const s0 = opt.initialState();
    const g = global0.slice();
    const s1 = await opt.step(g, d1, s0);
    expect(Array.from(g)).to.deep.equal([1, -2]);
    expect(s0.m).to.equal(null);
    const restored = deserializeServerOptimizerState(JSON.parse(JSON.stringify(serializeServerOptimizerState(s1.state))));
    expect(restored.step).to.equal(1);
    const a = await opt.step(s1.weights, d2, s1.state);
    const b = await opt.step(s1.weights, d2, restored);
    expect(Array.from(b.weights)).to.deep.equal(Array.from(a.weights));
    expect(Array.from(b.state.v!)).to.deep.equal(Array.from(a.state.v!));
  });

  it('rejects mismatched lengths, foreign state, bad hyper-parameters and corrupt serialised state', async () => {
    const adam = createServerOptimizer({ name: 'fedadam' });
    expect(await rejection(adam.step(new Float32Array(2), new Float32Array(3), adam.initialState()))).to.be.instanceOf(FedProfileError).and.match(/2 elements, delta has 3/);
    const yogiState = createServerOptimizer({ name: 'fedyogi' }).initialState();
    expect(await rejection(adam.step(global0, d1, yogiState))).to.match(/for fedyogi, not fedadam/);
    expect(() => createServerOptimizer({ name: 'fedadam', tau: -1 })).to.throw(FedProfileError, /tau/);
    expect(() => deserializeServerOptimizerState({ name: 'fedadam', step: 1, m: 'AAA', v: null })).to.throw(FedProfileError, /float32/);
    expect(() => deserializeServerOptimizerState({ step: 1 })).to.throw(FedProfileError, /malformed/);
  });
});
