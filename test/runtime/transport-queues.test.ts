import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { VectorWorker } from '../../shared/aggregation/vector-worker.js';
import { MeanAccumulator } from '../../shared/aggregation/mean.js';
import { encodeMessage, decodeMessage } from '../../shared/protocol/codec.js';
import { FrameAssembler, splitIntoFrames } from '../../shared/protocol/chunks.js';
import { FRAMES_PER_TURN, RECEIVE_BYTES_PER_TURN, frameSocket, prepareMessage, type FrameSocket } from '../../shared/protocol/transport.js';
import { CHUNK_EVENT, MESSAGE_EVENT } from '../../shared/protocol/version.js';
import { yieldToEventLoop } from '../../shared/event-loop.js';

/** One end of a socket: what it emits is recorded (with the event-loop turn it was emitted in). */
class RecordingSocket extends EventEmitter implements FrameSocket {
  readonly sent: Array<{ event: string; data: unknown; turn: number }> = [];
  constructor(private readonly clock: { turn: number }) { super(); }
  override emit(event: string, ...args: unknown[]): boolean {
    this.sent.push({ event, data: args[0], turn: this.clock.turn });
    return true;
  }
  deliver(event: string, data: unknown): void { super.emit(event, data); }
}

const CHUNK = 1024;
const payload = (n: number, seed: number) => ({ type: 'blob', values: Float32Array.from({ length: n }, (_, i) => i * seed) });

async function countTurns(clock: { turn: number }, until: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !until(); i++) { await yieldToEventLoop(); clock.turn++; }
}

describe('framing queues: send budget shared by all peers, large messages received one per turn', () => {
  it('frames of large messages to many peers go out a few per turn in total, taking turns, each peer in order', async () => {
    const clock = { turn: 0 };
    const peers = [0, 1, 2].map(() => new RecordingSocket(clock));
    const framed = peers.map((s) => frameSocket(s, { maxMessageBytes: 1 << 20, onMessage: () => {}, onReject: () => {}, chunkBytes: CHUNK }));
    const prepared = prepareMessage(payload(2048, 3), CHUNK); // 8 KiB of floats + header: 9 frames
    const frames = prepared.frames!.length;
    expect(frames * peers.length).to.be.greaterThan(FRAMES_PER_TURN);
    for (const f of framed) f.sendPrepared(prepared);
    expect(peers.every((p) => p.sent.length === 0), 'nothing is written in the sending turn').to.equal(true);
    await countTurns(clock, () => peers.every((p) => p.sent.length === frames));
    const all = peers.flatMap((p) => p.sent);
    const perTurn = new Map<number, number>();
    for (const s of all) perTurn.set(s.turn, (perTurn.get(s.turn) ?? 0) + 1);
    expect(Math.max(...perTurn.values()), 'frames per turn, all peers together').to.equal(FRAMES_PER_TURN);
    expect(perTurn.size).to.equal(Math.ceil((frames * peers.length) / FRAMES_PER_TURN));
    // Round robin: within the first turns every peer gets frames, not one peer's whole message first.
    expect(new Set(all.filter((s) => s.turn === all[0]!.turn || s.turn === all[0]!.turn + 1).map((s) => peers.findIndex((p) => p.sent.includes(s)))).size).to.equal(3);
    for (const p of peers) {
      const asm = new FrameAssembler(1 << 20);
      let whole: Uint8Array | undefined;
      for (const s of p.sent) { expect(s.event).to.equal(CHUNK_EVENT); whole = asm.accept(s.data) ?? whole; }
      expect(Array.from((decodeMessage(whole!) as { values: Float32Array }).values)).to.deep.equal(Array.from(payload(2048, 3).values));
    }
  });

  it('a small message queued behind a large one to the same peer keeps its place', async () => {
    const clock = { turn: 0 };
    const s = new RecordingSocket(clock);
    const f = frameSocket(s, { maxMessageBytes: 1 << 20, onMessage: () => {}, onReject: () => {}, chunkBytes: CHUNK });
    f.send(payload(2048, 1));
    f.send({ type: 'small' });
    await countTurns(clock, () => s.sent.length > 0 && s.sent.at(-1)!.event === MESSAGE_EVENT);
    expect(s.sent.at(-1)!.event).to.equal(MESSAGE_EVENT);
    expect(s.sent.slice(0, -1).every((x) => x.event === CHUNK_EVENT)).to.equal(true);
  });

  it('serialiseLarge: a reassembled message is handed over in a later turn, with what follows it from that peer after it', async () => {
    const clock = { turn: 0 };
    const s = new RecordingSocket(clock);
    const got: string[] = [];
    const f = frameSocket(s, {
      maxMessageBytes: 1 << 20, chunkBytes: CHUNK, serialiseLarge: true,
      onMessage: (m) => got.push((m as { type: string }).type), onReject: (e) => got.push(`reject:${e.code}`),
    });
    for (const frame of splitIntoFrames(encodeMessage({ ...payload(4096, 2), type: 'update' }), CHUNK)) s.deliver(CHUNK_EVENT, frame);
    s.deliver(MESSAGE_EVENT, encodeMessage({ type: 'fit-meta' }));
    f.afterReceived(() => got.push('disconnect'));
    expect(got, 'nothing is decoded inside the read that completed the transfer').to.deep.equal([]);
    await countTurns(clock, () => got.length === 3);
    expect(got).to.deep.equal(['update', 'fit-meta', 'disconnect']);
    // With nothing waiting, afterReceived runs at once and small messages are not deferred.
    f.afterReceived(() => got.push('now'));
    s.deliver(MESSAGE_EVENT, encodeMessage({ type: 'small' }));
    expect(got.slice(3)).to.deep.equal(['now', 'small']);
  });

  it('serialiseLarge: a handler that throws on a queued message is reported through onReject, and the queue goes on', async () => {
    const clock = { turn: 0 };
    const s = new RecordingSocket(clock);
    const got: string[] = [];
    frameSocket(s, {
      maxMessageBytes: 1 << 20, chunkBytes: CHUNK, serialiseLarge: true,
      onMessage: (m) => { const t = (m as { type: string }).type; if (t === 'boom') throw new Error('handler bug'); got.push(t); },
      onReject: (e) => got.push(`reject:${e.code}:${e.message}`),
    });
    for (const frame of splitIntoFrames(encodeMessage({ ...payload(2048, 1), type: 'boom' }), CHUNK)) s.deliver(CHUNK_EVENT, frame);
    s.deliver(MESSAGE_EVENT, encodeMessage({ type: 'after' }));
    await countTurns(clock, () => got.length === 2);
    expect(got).to.deep.equal(['reject:INTERNAL:handler bug', 'after']);
  });

  it('read back-pressure: once a turn took RECEIVE_BYTES_PER_TURN of frames, every peer with a flow stops reading until the next turn', async () => {
    const clock = { turn: 0 };
    const FRAME = 512 * 1024;
    const calls: string[] = [];
    const sockets = [0, 1, 2].map(() => new RecordingSocket(clock));
    const received: number[] = [0, 0, 0];
    sockets.forEach((s, i) => frameSocket(s, {
      maxMessageBytes: 8 << 20, chunkBytes: FRAME, serialiseLarge: true, onMessage: () => { received[i]!++; }, onReject: () => {},
      flow: { pause: () => calls.push(`pause ${i}@${clock.turn}`), resume: () => calls.push(`resume ${i}@${clock.turn}`) },
    }));
    // A socket without a flow (a peer that cannot be paused) is never asked to.
    frameSocket(new RecordingSocket(clock), { maxMessageBytes: 8 << 20, onMessage: () => {}, onReject: () => {} });
    const frames = (seed: number) => splitIntoFrames(encodeMessage({ type: 'update', values: new Float32Array((RECEIVE_BYTES_PER_TURN * 3) / 16).fill(seed) }), FRAME);
    const all = [frames(1), frames(2), frames(3)];
    // One poll phase's worth from peers 0 and 1: no pause while under the budget ...
    let bytes = 0;
    for (const f of all[0]!) { sockets[0]!.deliver(CHUNK_EVENT, f); bytes += f.data.byteLength; }
    expect(bytes).to.be.below(RECEIVE_BYTES_PER_TURN);
    expect(calls).to.deep.equal([]);
    let taken = 0;
    while (bytes < RECEIVE_BYTES_PER_TURN) {
      expect(calls).to.deep.equal([]);
      const f = all[1]![taken++]!;
      sockets[1]!.deliver(CHUNK_EVENT, f);
      bytes += f.data.byteLength;
    }
    // ... and every flow paused, once each, in the turn the budget ran out.
    expect(calls).to.deep.equal(['pause 0@0', 'pause 1@0', 'pause 2@0']);
    expect(calls).to.have.length(3);
    // Resumed in the check phase that ends this turn, so the next poll phase reads again.
    await yieldToEventLoop();
    expect(calls.slice(3)).to.deep.equal(['resume 0@0', 'resume 1@0', 'resume 2@0']);
    clock.turn++;
    // The next turn has a fresh budget: the rest of the transfers complete and every message is delivered.
    for (const f of all[1]!.slice(taken)) sockets[1]!.deliver(CHUNK_EVENT, f);
    expect(calls).to.have.length(6);
    for (const f of all[2]!) sockets[2]!.deliver(CHUNK_EVENT, f);
    await countTurns(clock, () => received.every((n) => n === 1));
    expect(received).to.deep.equal([1, 1, 1]);
  });

  it('digest on the aggregation worker: transfers are hashed there (bytes moved, not copied), delivered in their place, corrupt ones refused', async () => {
    const worker = new VectorWorker();
    try {
      const clock = { turn: 0 };
      const s = new RecordingSocket(clock);
      const got: string[] = [];
      const handedOver: Uint8Array[] = [];
      frameSocket(s, {
        maxMessageBytes: 1 << 20, chunkBytes: CHUNK, serialiseLarge: true,
        digest: (bytes) => { handedOver.push(bytes); return worker.sha256(bytes); },
        onMessage: (m) => got.push((m as { type: string }).type), onReject: (e) => got.push(`reject:${e.code}`),
      });
      const other = new RecordingSocket(clock);
      frameSocket(other, { maxMessageBytes: 1 << 20, chunkBytes: CHUNK, serialiseLarge: true, digest: (b) => worker.sha256(b), onMessage: (m) => got.push(`other:${(m as { type: string }).type}`), onReject: () => {} });
      for (const frame of splitIntoFrames(encodeMessage({ ...payload(4096, 2), type: 'update' }), CHUNK)) s.deliver(CHUNK_EVENT, frame);
      s.deliver(MESSAGE_EVENT, encodeMessage({ type: 'fit-meta' }));
      const corrupt = splitIntoFrames(encodeMessage({ ...payload(2048, 5), type: 'corrupt' }), CHUNK);
      corrupt[1] = { ...corrupt[1]!, data: corrupt[1]!.data.slice().fill(7) };
      for (const frame of corrupt) s.deliver(CHUNK_EVENT, frame);
      s.deliver(MESSAGE_EVENT, encodeMessage({ type: 'after' }));
      // Another peer with nothing queued is not held back by this one's digests.
      other.deliver(MESSAGE_EVENT, encodeMessage({ type: 'small' }));
      expect(got).to.deep.equal(['other:small']);
      expect(handedOver).to.have.length(2);
      expect(handedOver.every((b) => b.byteLength === 0), 'the reassembled buffers went to the worker without a copy').to.equal(true);
      for (let i = 0; i < 500 && got.length < 5; i++) await new Promise((r) => setTimeout(r, 2));
      expect(got).to.deep.equal(['other:small', 'update', 'fit-meta', 'reject:INTEGRITY', 'after']);
    } finally {
      await worker.close();
    }
  });

  it('a corrupt reassembled message is still rejected (SHA-256) through the queue', async () => {
    const clock = { turn: 0 };
    const s = new RecordingSocket(clock);
    const got: string[] = [];
    frameSocket(s, { maxMessageBytes: 1 << 20, chunkBytes: CHUNK, serialiseLarge: true, onMessage: () => got.push('message'), onReject: (e) => got.push(e.code) });
    const frames = splitIntoFrames(encodeMessage(payload(2048, 5)), CHUNK);
    frames[1] = { ...frames[1]!, data: frames[1]!.data.slice().fill(7) };
    for (const frame of frames) s.deliver(CHUNK_EVENT, frame);
    await countTurns(clock, () => got.length > 0);
    expect(got).to.deep.equal(['INTEGRITY']);
  });
});

describe('updates reach the aggregation worker without a copy when their buffer is a reassembled message', function () {
  this.timeout(20_000);
  const worker = new VectorWorker();
  after(() => worker.close());

  it('a decoded update from the assembler takes its whole buffer along; one viewing a shared buffer is copied; the mean is exact', async () => {
    const n = 3000;
    const a = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 1e-3);
    const b = Float32Array.from({ length: n }, (_, i) => Math.cos(i) * 1e-3);
    const asm = new FrameAssembler(1 << 20);
    let whole: Uint8Array | undefined;
    for (const frame of splitIntoFrames(encodeMessage({ update: a }), CHUNK)) whole = asm.accept(frame) ?? whole;
    const fromAssembler = (decodeMessage(whole!) as { update: Float32Array }).update;
    expect(fromAssembler.byteOffset, 'a view into the message, not a copy').to.be.greaterThan(0);
    // As a socket read hands it over: the message bytes are part of a larger buffer that holds more data.
    const encoded = encodeMessage({ update: b });
    const shared = new Uint8Array(encoded.byteLength + 64);
    shared.set(encoded, 0);
    const fromSocket = (decodeMessage(shared.subarray(0, encoded.byteLength)) as { update: Float32Array }).update;

    const acc = worker.accumulator(n);
    acc.add(fromAssembler, 3);
    acc.add(fromSocket, 5);
    expect(whole!.byteLength, 'the reassembled message buffer was transferred').to.equal(0);
    expect(shared.byteLength, 'a buffer that also holds other bytes stays here').to.equal(encoded.byteLength + 64);
    const expected = new MeanAccumulator(n);
    expected.add(a, 3);
    expected.add(b, 5);
    expect(Array.from(await acc.mean())).to.deep.equal(Array.from(expected.result()));
  });
});
