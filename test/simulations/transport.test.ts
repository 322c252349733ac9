import { expect } from 'chai';
import { PlainClientSession, PlainServerSession } from '../../shared/aggregation/plain-session.js';
import type { ClientAggregationSession } from '../../shared/aggregation/seam.js';
import { runAggregationInMemory } from '../../simulations/federated/in-memory-transport.js';

describe('in-memory aggregation transport', () => {
  const clients = () => new Map<string, ClientAggregationSession>(['a', 'b', 'c', 'd'].map((id) => [id, new PlainClientSession()]));
  const updates = new Map([
    ['a', { update: new Float32Array([1, 2]), weight: 1 }],
    ['b', { update: new Float32Array([3, 6]), weight: 3 }],
    ['c', { update: new Float32Array([100, 100]), weight: 1 }],
    ['d', { update: new Float32Array([-100, -100]), weight: 1 }],
  ]);

  it('delivers every update and counts real envelope bytes', () => {
    const r = runAggregationInMemory({ server: new PlainServerSession({ vectorLength: 2, minResults: 1 }), clients: clients(), updates });
    expect(r.outcome.status).to.equal('done');
    if (r.outcome.status !== 'done') return;
    expect(r.outcome.contributors).to.deep.equal(['a', 'b', 'c', 'd']);
    expect(r.messagesUp).to.equal(4);
    expect(r.bytesUp).to.be.above(4 * 8);
    expect(r.deadlines).to.equal(0);
  });

  it('leaves out a dropout at once and a straggler at the deadline', () => {
    const r = runAggregationInMemory({
      server: new PlainServerSession({ vectorLength: 2, minResults: 1 }), clients: clients(), updates,
      dropAfter: new Map([['c', 0]]), stragglers: new Set(['d']),
    });
    expect(r.deadlines).to.equal(1);
    expect(r.outcome.status).to.equal('done');
    if (r.outcome.status !== 'done') return;
    expect(r.outcome.contributors).to.deep.equal(['a', 'b']);
    expect([...r.outcome.mean]).to.deep.equal([(1 * 1 + 3 * 3) / 4, (2 * 1 + 6 * 3) / 4]);
    expect(r.messagesUp).to.equal(2);
  });

  it('reports an abort when nobody contributes', () => {
    const r = runAggregationInMemory({
      server: new PlainServerSession({ vectorLength: 2, minResults: 1 }), clients: clients(), updates,
      dropAfter: new Map(['a', 'b', 'c', 'd'].map((id) => [id, 0])),
    });
    expect(r.outcome.status).to.equal('aborted');
  });
});
