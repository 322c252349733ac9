import { expect } from 'chai';
import { createStrategy, type StrategyConfigInput } from '../../shared/aggregation/strategy.js';
import { VirtualFederation, type Fault, type VirtualClient, type VirtualRound } from '../../simulations/federated/virtual-federation.js';

const DIM = 3;
/** Client k always moves every coordinate by k + 1 and reports k + 1 examples. */
const clients = (ids: string[]) => new Map<string, VirtualClient>(ids.map((id, k) => [id, {
  fit: async (g: Float32Array) => ({ delta: Float32Array.from(g, () => k + 1), numExamples: k + 1, metrics: { loss: k } }),
  evaluate: async () => ({ numExamples: 1, metrics: { loss: k } }),
}]));

async function run(strategy: StrategyConfigInput, opts: { rounds?: number; faults?: Record<string, Fault> } = {}) {
  const rounds: VirtualRound[] = [];
  const ids = ['a', 'b', 'c', 'd'];
  const vf = new VirtualFederation({
    federationId: 't', seed: 3, rounds: opts.rounds ?? 1, strategy: createStrategy({ evaluateEvery: 0, ...strategy }),
    initial: new Float32Array(DIM), clients: clients(ids),
    faultOf: (_round, id) => opts.faults?.[id],
    onRound: (r) => { rounds.push(r); },
  });
  const final = await vf.run();
  return { rounds, final };
}

describe('VirtualFederation: the round engine on a virtual clock and an in-memory pump', () => {
  it('aggregates every selected client with example weights and counts real envelope bytes', async () => {
    const { rounds, final } = await run({ clientsPerRound: 4, minFitClients: 1, overSelection: 1 });
    expect(rounds).to.have.length(1);
    expect([...rounds[0]!.contributors].sort()).to.deep.equal(['a', 'b', 'c', 'd']);
    expect(rounds[0]!.totalWeight).to.equal(10);
    expect([...final]).to.deep.equal(new Array(DIM).fill(Math.fround((1 + 4 + 9 + 16) / 10)));
    expect(rounds[0]!.bytesUp).to.be.above(4 * DIM * 4);
    expect(rounds[0]!.deadlinesPassed).to.equal(0);
  });

  it('leaves out a dropout at once and a straggler at the (virtual) deadline', async () => {
    const { rounds, final } = await run({ clientsPerRound: 4, minFitClients: 1, overSelection: 1 }, { faults: { c: 'dropout', d: 'straggler' } });
    expect([...rounds[0]!.contributors].sort()).to.deep.equal(['a', 'b']);
    expect(rounds[0]!.deadlinesPassed).to.equal(1);
    expect([...final]).to.deep.equal(new Array(DIM).fill(Math.fround(5 / 3)));
  });

  it('a round below quorum fails, keeps the model, and counts as one of the round attempts', async () => {
    const { rounds, final } = await run({ clientsPerRound: 4, minFitClients: 3, overSelection: 1 }, { rounds: 1, faults: { a: 'dropout', b: 'straggler' } });
    expect(rounds.map((r) => r.status)).to.deep.equal(['failed']);
    expect(rounds[0]!.reason).to.match(/quorum not reached: 2 of 3/);
    expect([...final]).to.deep.equal([0, 0, 0]);
  });

  it('over-selection: invites more than wanted and keeps the first results in client-id order', async () => {
    const { rounds } = await run({ clientsPerRound: 2, minFitClients: 2, overSelection: 2 });
    expect(rounds[0]!.participants).to.have.length(4);
    expect(rounds[0]!.contributors).to.deep.equal(['a', 'b']);
    expect(rounds[0]!.metrics['agg.stragglers']).to.equal(2);
  });

  it('selection follows the engine\'s seeded stream: the same seed repeats, rounds differ', async () => {
    const a = await run({ clientsPerRound: 2, minFitClients: 1, overSelection: 1 }, { rounds: 6 });
    const b = await run({ clientsPerRound: 2, minFitClients: 1, overSelection: 1 }, { rounds: 6 });
    expect(a.rounds.map((r) => r.participants)).to.deep.equal(b.rounds.map((r) => r.participants));
    expect(new Set(a.rounds.map((r) => [...r.participants].sort().join())).size).to.be.above(1);
    expect(Buffer.from(a.final.buffer).equals(Buffer.from(b.final.buffer))).to.equal(true);
  });
});
