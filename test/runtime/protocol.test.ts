import { expect } from 'chai';
import { PlainClientSession, PlainServerSession } from '../../shared/aggregation/plain-session.js';
import { checkAggregate, checkUpdate, DEFAULT_UPDATE_BOUNDS } from '../../shared/aggregation/update-bounds.js';
import { DecodeBudget } from '../../shared/protocol/budget.js';
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

  /** A hand-built FPM1 message: `tree` as the JSON part, then `blob` as the binary area. */
  const handBuilt = (tree: unknown, blob: Uint8Array): Uint8Array => {
    const json = new TextEncoder().encode(JSON.stringify(tree));
    const head = (8 + json.byteLength + 7) & ~7;
    const out = new Uint8Array(head + blob.byteLength);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, 0x314d5046, true);
    dv.setUint32(4, json.byteLength, true);
    out.set(json, 8);
    out.set(blob, head);
    return out;
  };

  it('decode cost is bounded by the message size: a blob referenced twice, or overlapping references, are refused', () => {
    // A 142 KB message naming one 48 KB blob 3,000 times: a codec that copies each reference allocates
    // 140 MB for it (and holds the loop for 100-500 ms).
    const refs = Array.from({ length: 3000 }, () => ({ $bin: 'f32', at: 0, n: 49152 }));
    const amplified = handBuilt({ type: 'agg', round: 1, aggType: 'plain/update', payload: refs }, new Uint8Array(49152));
    expect(amplified.byteLength).to.be.below(150_000);
    expect(() => decodeMessage(amplified)).to.throw(/referenced more than once/);
    // Distinct offsets that overlap: 100 references of almost the whole area, each shifted by 8 bytes.
    const shifted = Array.from({ length: 100 }, (_, i) => ({ $bin: 'u8', at: i * 8, n: 65536 - 800 }));
    expect(() => decodeMessage(handBuilt({ p: shifted }, new Uint8Array(65536)))).to.throw(/overlap/);
    // "__proto__" keys would swap an object's prototype.
    expect(() => decodeMessage(handBuilt(JSON.parse('{"a":{"__proto__":{"polluted":1}}}'), new Uint8Array(0)))).to.throw(/__proto__/);
    // A large aligned blob is a view on the received bytes (no copy); the honest round trip is unchanged.
    const bytes = encodeMessage({ w: new Float32Array(1000).fill(2) });
    const back = decodeMessage(bytes) as { w: Float32Array };
    expect(back.w.buffer).to.equal(bytes.buffer);
    expect(back.w[999]).to.equal(2);
  });

  it('bounds the bytes a peer can reserve with unfinished chunked transfers', () => {
    const big = splitIntoFrames(encodeMessage({ w: new Float32Array(200_000) }), 256 * 1024); // ~800 KB
    const other = splitIntoFrames(encodeMessage({ w: new Float32Array(200_000) }), 256 * 1024);
    const a = new FrameAssembler(1 << 20);
    a.accept(big[0]);
    expect(a.bytesInFlight).to.equal(big[0]!.totalBytes);
    // A second transfer would reserve 1.6 MB for a peer allowed 1 MB at a time (4 transfers = 4 MB before).
    expect(() => a.accept(other[0])).to.throw(/in flight, over the limit/);
    for (const f of big.slice(1)) a.accept(f);
    expect(a.bytesInFlight).to.equal(0);
    for (const f of other) a.accept(f); // room again once the first one finished
  });

  it('a per-connection decode budget refuses a flood, then refills with time', () => {
    let t = 0;
    const b = new DecodeBudget({ ratePerSecond: 10_000, burst: 20_000, perMessage: 1000 }, () => t);
    let accepted = 0;
    for (let i = 0; i < 100; i++) if (b.take(1000)) accepted++;
    expect(accepted).to.equal(10); // 20,000 / (1,000 bytes + 1,000 per message)
    t += 1000; // one second later: 10,000 more
    accepted = 0;
    for (let i = 0; i < 100; i++) if (b.take(1000)) accepted++;
    expect(accepted).to.equal(5);
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

  it('refuses a finite but huge update (3e38 everywhere) before summing, and caps weights by default', () => {
    const s = new PlainServerSession({ vectorLength: 3, minResults: 2 });
    s.begin(['a', 'b', 'c']);
    expect(() => s.handle('a', 'plain/update', { update: new Float32Array(3).fill(3e38), weight: 1 })).to.throw(/exceeds maxAbs 1000 at index 0/);
    expect(() => s.handle('a', 'plain/update', { update: upd([1, Infinity, 0]), weight: 1 })).to.throw(/non-finite value Infinity at index 1/);
    // Each coordinate is within maxAbs, but the norm is not.
    const tight = new PlainServerSession({ vectorLength: 3, minResults: 1, bounds: { maxAbs: 10, maxL2Norm: 5 } });
    tight.begin(['a']);
    expect(() => tight.handle('a', 'plain/update', { update: upd([4, 4, 4]), weight: 1 })).to.throw(/L2 norm 6.92820 exceeds maxL2Norm 5/);
    // No maxWeight given: a client claiming 1e12 examples is capped at the default 1,000,000.
    s.handle('a', 'plain/update', { update: upd([1, 1, 1]), weight: 1e12 });
    s.handle('b', 'plain/update', { update: upd([0, 0, 0]), weight: 1_000_000 });
    s.dropped('c');
    const o = s.outcome();
    expect(o.status).to.equal('done');
    if (o.status !== 'done') return;
    expect(o.totalWeight).to.equal(2_000_000);
    expect([...o.mean]).to.deep.equal([0.5, 0.5, 0.5]);
  });

  it('checks the aggregate before commit: non-finite or above maxModelAbs fails, naming the index', () => {
    expect(() => checkAggregate(upd([0, 1, Number.NaN]), 10)).to.throw(/non-finite value NaN at index 2; the previous model stays/);
    expect(() => checkAggregate(upd([0, -20]), 10)).to.throw(/20 exceeds maxModelAbs 10 at index 1/);
    expect(() => checkAggregate(upd([0, -10]), 10)).to.not.throw();
    expect(checkUpdate(upd([3, 4]), DEFAULT_UPDATE_BOUNDS)).to.deep.equal({ l2: 5, maxAbs: 4 });
  });
});
