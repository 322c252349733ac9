import { expect } from 'chai';
import { PlainClientSession, PlainServerSession } from '../../shared/aggregation/plain-session.js';
import { FrameAssembler, splitIntoFrames } from '../../shared/protocol/chunks.js';
import { decodeMessage, encodeMessage } from '../../shared/protocol/codec.js';
import { ClientMessageSchema } from '../../shared/protocol/messages.js';

describe('protocol: binary codec, chunking, schemas', () => {
  it('round-trips nested structures with typed arrays of every supported kind, bit for bit', () => {
    const msg = {
      type: 'agg', round: 3, aggType: 'secagg/advertise',
      payload: { f: Float32Array.from([1.5, -0, 3e-38, 7]), u8: new Uint8Array([0, 255, 7]), u32: Uint32Array.from([2 ** 32 - 1, 0]),
        nested: [{ i: Int32Array.from([-5]), d: Float64Array.from([Math.PI]) }], s: 'x', n: null, b: true },
    };
    const back = decodeMessage(encodeMessage(msg)) as typeof msg;
    expect(back.payload.f).to.be.instanceOf(Float32Array);
    expect(Buffer.from(back.payload.f.buffer).equals(Buffer.from(msg.payload.f.buffer))).to.equal(true);
    expect([...back.payload.u8]).to.deep.equal([0, 255, 7]);
    expect([...back.payload.u32]).to.deep.equal([2 ** 32 - 1, 0]);
    expect(back.payload.nested[0]!.i[0]).to.equal(-5);
    expect(back.payload.nested[0]!.d[0]).to.equal(Math.PI);
    expect(back.payload).to.include({ s: 'x', n: null, b: true });
    // A sub-view (offset into a bigger buffer) encodes only its own bytes.
    const big = new Float32Array(100).map((_, i) => i);
    const view = decodeMessage(encodeMessage({ v: big.subarray(10, 13) })) as { v: Float32Array };
    expect([...view.v]).to.deep.equal([10, 11, 12]);
  });

  it('rejects garbage, truncation and out-of-bounds binary references with PROTOCOL errors', () => {
    expect(() => decodeMessage(new Uint8Array([1, 2, 3]))).to.throw(/shorter than its header/);
    expect(() => decodeMessage(Buffer.from('hello world, not a frame'))).to.throw(/wrong magic number/);
    const ok = encodeMessage({ v: new Float32Array(4) });
    expect(() => decodeMessage(ok.subarray(0, ok.length - 4))).to.throw(/binary reference out of bounds/);
    expect(() => encodeMessage({ x: Number.NaN })).to.throw(/non-finite/);
  });

  it('chunks a message into frames, reassembles it, and catches corruption, reordering and oversize', () => {
    const bytes = encodeMessage({ w: new Float32Array(300_000).fill(1.25) });
    const frames = splitIntoFrames(bytes, 256 * 1024);
    expect(frames).to.have.length(Math.ceil(bytes.length / (256 * 1024)));
    const a = new FrameAssembler(10 << 20);
    let whole: Uint8Array | undefined;
    for (const f of frames) whole = a.accept(f);
    expect(Buffer.from(whole!).equals(Buffer.from(bytes))).to.equal(true);

    const corrupt = splitIntoFrames(bytes, 256 * 1024).map((f) => ({ ...f, data: Uint8Array.from(f.data) }));
    corrupt[1]!.data[5]! ^= 1;
    const b = new FrameAssembler(10 << 20);
    expect(() => { for (const f of corrupt) b.accept(f); }).to.throw(/SHA-256/);
    const c = new FrameAssembler(10 << 20);
    c.accept(frames[0]);
    expect(() => c.accept(frames[2])).to.throw(/out of order/);
    expect(() => new FrameAssembler(1000).accept(frames[0])).to.throw(/exceeds the limit of 1000 bytes/);
  });

  it('validates client messages with readable paths', () => {
    const r = ClientMessageSchema.safeParse({ type: 'fit-meta', round: 0, numExamples: 1, metrics: { loss: Infinity }, trainMs: 1 });
    expect(r.success).to.equal(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).to.include.members(['round', 'metrics.loss']);
    expect(ClientMessageSchema.safeParse({ type: 'agg', round: 1, aggType: 'no-namespace', payload: {} }).success).to.equal(false);
  });
});

describe('plain aggregation session', () => {
  const upd = (v: number[]) => Float32Array.from(v);
  it('computes the example-weighted mean, caps weights, and finishes at the target count', () => {
    const s = new PlainServerSession({ vectorLength: 2, minResults: 2, targetResults: 2, maxWeight: 10 });
    s.begin(['a', 'b', 'c']);
    const [m] = new PlainClientSession().submit(upd([1, 2]), 30);
    s.handle('a', m!.type, m!.payload);
    expect(s.outcome().status).to.equal('pending');
    s.handle('b', 'plain/update', { update: upd([3, 6]), weight: 10 });
    const o = s.outcome();
    expect(o.status).to.equal('done');
    if (o.status !== 'done') return;
    expect([...o.mean]).to.deep.equal([2, 4]); // a's weight capped from 30 to 10
    expect(o.totalWeight).to.equal(20);
    expect(() => s.handle('c', 'plain/update', { update: upd([0, 0]), weight: 1 })).to.throw(/after aggregation closed/);
  });

  it('rejects bad updates without counting them, and aborts on quorum failure', () => {
    const s = new PlainServerSession({ vectorLength: 2, minResults: 2 });
    s.begin(['a', 'b']);
    expect(() => s.handle('a', 'plain/update', { update: upd([1, Number.NaN]), weight: 1 })).to.throw(/non-finite/);
    expect(() => s.handle('a', 'plain/update', { update: upd([1]), weight: 1 })).to.throw(/1 values, expected 2/);
    expect(() => s.handle('a', 'plain/update', { update: upd([1, 1]), weight: 0 })).to.throw(/positive number/);
    expect(() => s.handle('z', 'plain/update', { update: upd([1, 1]), weight: 1 })).to.throw(/not a participant/);
    s.handle('a', 'plain/update', { update: upd([1, 1]), weight: 1 });
    expect(() => s.handle('a', 'plain/update', { update: upd([1, 1]), weight: 1 })).to.throw(/already sent/);
    s.dropped('b');
    expect(s.outcome()).to.deep.equal({ status: 'aborted', reason: 'quorum not reached: 1 of 2 required updates (the others dropped)' });
  });
});
