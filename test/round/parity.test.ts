import { expect } from 'chai';
import seedrandom from 'seedrandom';
import type { FederatedClient } from '../../client-sdk/federated-client.js';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { createStrategy, type StrategyConfigInput } from '../../shared/aggregation/strategy.js';
import type { FitConfig, FitResult } from '../../shared/training/types.js';
import type { WeightManifest } from '../../shared/weights/manifest.js';
import { VirtualFederation, type VirtualRound } from '../../simulations/federated/virtual-federation.js';
import { FederationConfigSchema } from '../../coordinator/federation-config.js';
import { federationProtection } from '../../coordinator/runtime/update-protection.js';
import { ModelConfigSchema } from '../../shared/model/config.js';
import { modelManifest } from '../../shared/model/init.js';
import { LeastSquaresTrainer, TINY_MODEL, TINY_DIM } from '../runtime/fixtures/least-squares-trainer.js';
import {
  api, createFederation, issueToken, newClient, removeDir, startTestCoordinator, tempDir, waitFor, weightsOf,
} from '../runtime/fixtures/harness.js';

const DIM = TINY_DIM;
const SAMPLES = [5, 11, 23, 8];
const SEED = 11;
const ROUNDS = 3;

/**
 * Least squares whose local result also depends on the round's per-client seed, phase and learning rate,
 * so any difference in selection, seeds or per-phase settings between the two drivers shows in the model.
 */
class SeededTrainer extends LeastSquaresTrainer {
  override async fit(global: Float32Array, manifest: WeightManifest, config: FitConfig): Promise<FitResult> {
    const r = await super.fit(global, manifest, config);
    const rng = seedrandom(`${config.seed}/${config.phase}`);
    for (let i = 0; i < r.delta.length; i++) r.delta[i]! += Math.fround((rng() - 0.5) * 1e-3 * config.learningRate);
    return r;
  }
}

const trainerFor = (i: number) => new SeededTrainer(DIM, SAMPLES[i]!, `parity-client-${i}`);

// Selection of 2 of 4 by the engine's seeded stream, FedAdam's server step, a weight cap that binds (23 > 20),
// a pre-training phase with its own learning rate, and federated evaluation between rounds.
const STRATEGY: StrategyConfigInput = {
  name: 'fedadam', clientsPerRound: 2, minFitClients: 2, overSelection: 1, localEpochs: 2, learningRate: 0.05,
  pretrainRounds: 1, pretrainLearningRate: 0.02, optimizer: 'sgd', maxExamples: 20, evaluateEvery: 1, serverLearningRate: 0.05,
};

describe('one round engine: coordinator over sockets and simulator agree bit for bit', function () {
  this.timeout(60_000);
  let dir: string;
  let coord: RunningCoordinator;
  const clients: FederatedClient[] = [];

  before(async () => {
    dir = tempDir('parity');
    coord = await startTestCoordinator(dir);
  });
  after(async () => {
    await Promise.all(clients.splice(0).map((c) => c.stop()));
    await coord.close();
    removeDir(dir);
  });

  const sameModels = async (name: string, extra: Record<string, unknown>) => {
    const fedConfig = { name, model: TINY_MODEL, seed: SEED, rounds: ROUNDS, strategy: STRATEGY, deadlines: { trainMs: 20_000 }, ...extra };
    const fed = await createFederation(coord.url, fedConfig);
    const ids: string[] = [];
    for (let i = 0; i < SAMPLES.length; i++) {
      const c = newClient(coord.url, await issueToken(coord.url, fed, `m${i}`), trainerFor(i), `${dir}/${name}-client-${i}`);
      clients.push(c);
      ids.push((await c.start()).clientId);
    }
    expect((await api(coord.url, 'POST', `/federations/${fed}/start`)).status).to.equal(200);
    await waitFor('federation completed', async () => (await api(coord.url, 'GET', `/federations/${fed}`)).json.status === 'completed');
    const served: Array<{ contributors: string[]; weights: Float32Array; metrics: Record<string, number> }> = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const row = (await api(coord.url, 'GET', `/federations/${fed}/rounds/${r}`)).json;
      expect(row.status, `round ${r}`).to.equal('completed');
      served.push({ contributors: [...row.contributors].sort(), weights: await weightsOf(coord.url, fed, r), metrics: row.metrics ?? {} });
    }
    await Promise.all(clients.splice(0).map((c) => c.stop()));
    // The simulator wraps its sessions with the coordinator's own UpdateProtection for the same config.
    const parsed = FederationConfigSchema.parse(fedConfig);
    const protection = Object.keys(extra).length > 0 ? federationProtection(parsed, modelManifest(ModelConfigSchema.parse(TINY_MODEL)), []) : undefined;

    const simulated: VirtualRound[] = [];
    const sim = new VirtualFederation({
      ...(protection ? { protection } : {}),
      federationId: 'parity-sim', seed: SEED, rounds: ROUNDS, strategy: createStrategy(STRATEGY),
      initial: await weightsOf(coord.url, fed, 0),
      clients: new Map(ids.map((id, i) => {
        const t = trainerFor(i);
        const manifest = { specs: [], totalSize: DIM } as unknown as WeightManifest; // the trainer reads only totalSize
        return [id, { fit: (g: Float32Array, c: FitConfig) => t.fit(g, manifest, c), evaluate: (g: Float32Array) => t.evaluate(g) }];
      })),
      onRound: (r) => { simulated.push(r); },
    });
    const final = await sim.run();

    expect(simulated.map((r) => r.status)).to.deep.equal(['completed', 'completed', 'completed']);
    const distinctPairs = new Set(served.map((s) => s.contributors.join(',')));
    expect(distinctPairs.size, 'the seeded selection should vary across rounds').to.be.above(1);
    for (let r = 0; r < ROUNDS; r++) {
      expect([...simulated[r]!.contributors].sort(), `round ${r + 1} contributors`).to.deep.equal(served[r]!.contributors);
      const a = Buffer.from(served[r]!.weights.buffer, served[r]!.weights.byteOffset, served[r]!.weights.byteLength);
      const b = Buffer.from(simulated[r]!.global.buffer, simulated[r]!.global.byteOffset, simulated[r]!.global.byteLength);
      expect(b.equals(a), `round ${r + 1} global model bits`).to.equal(true);
    }
    expect(Buffer.from(final.buffer).equals(Buffer.from(served[ROUNDS - 1]!.weights.slice().buffer))).to.equal(true);
    return { served, simulated };
  };

  it('same seed, clients and data ⇒ the same participants and the same global model after every round', async () => {
    await sameModels('parity', {});
  });

  it('the same with a robust rule and q8 uploads with error feedback: one UpdateProtection, one client transform', async () => {
    const { served, simulated } = await sameModels('parity-protected', {
      robustAggregation: { rule: 'trimmed-mean', trimFraction: 0.25 }, compression: { upload: { codec: 'q8', errorFeedback: true } },
    });
    for (let r = 0; r < ROUNDS; r++) {
      // Both decoded the same encoded uploads: the coordinator counts the bytes that arrived.
      expect(served[r]!.metrics['agg.uploadBytes'], `round ${r + 1} upload bytes`).to.be.a('number');
      expect(simulated[r]!.metrics['agg.uploadBytes']).to.equal(served[r]!.metrics['agg.uploadBytes']);
    }
  });
});
