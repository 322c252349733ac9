import { FedProfileError } from '../errors.js';

/**
 * The shared memory of one data-parallel training run: a barrier, the step's command, each participant's
 * loss and gradient slot, and the reduced gradient. Every participant (the calling thread is rank 0, the
 * helper workers ranks 1..N-1) maps the same SharedArrayBuffer.
 */
const COUNT = 0; // arrivals at the barrier
const GEN = 1; // barrier generation
const CMD = 2; // what the step barrier releases: STEP or END
const ABORT = 3; // rank + 1 of a participant that failed
const BATCH = 4; // rows in this step's batch
const STEP = 5; // the step counter (mask seed)
const DROPOUT = 6; // the step's dropout seed (uint32 bits)
const ERR_LEN = 7; // bytes of the failure message
const CTRL_INTS = 8;
const ERR_BYTES = 1024;

export const CMD_STEP = 1;
export const CMD_END = 2;

/** A participant gave up: another one failed (its message is carried) or the run stalled. */
export class ParallelAbort extends FedProfileError {
  constructor(message: string) { super('INTERNAL', message); }
}

export interface ReduceLayout { participants: number; gradSize: number; maxBatch: number }

export class SharedStep {
  readonly ctrl: Int32Array;
  readonly losses: Float64Array;
  readonly indices: Int32Array;
  /** One slot of gradSize floats per participant. */
  readonly grads: Float32Array;
  /** This participant's copy of the summed gradient. */
  readonly reduced: Float32Array;
  private readonly err: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer, readonly layout: ReduceLayout, readonly rank: number) {
    const { participants: n, gradSize, maxBatch } = layout;
    let off = 0;
    this.ctrl = new Int32Array(buffer, off, CTRL_INTS); off += CTRL_INTS * 4;
    this.losses = new Float64Array(buffer, off, n); off += n * 8;
    this.err = new Uint8Array(buffer, off, ERR_BYTES); off += ERR_BYTES;
    this.indices = new Int32Array(buffer, off, maxBatch); off += maxBatch * 4;
    this.grads = new Float32Array(buffer, off, n * gradSize);
    this.reduced = new Float32Array(gradSize);
  }

  static bytes(l: ReduceLayout): number {
    return CTRL_INTS * 4 + l.participants * 8 + ERR_BYTES + l.maxBatch * 4 + l.participants * l.gradSize * 4;
  }

  static create(layout: ReduceLayout): SharedStep {
    return new SharedStep(new SharedArrayBuffer(SharedStep.bytes(layout)), layout, 0);
  }

  /**
   * Waits until every participant has arrived. stallMs bounds the wait (the driver uses it: helpers never
   * legitimately keep it waiting long); helpers wait for the driver as long as it takes.
   */
  barrier(stallMs = Number.POSITIVE_INFINITY): void {
    const c = this.ctrl;
    const gen = Atomics.load(c, GEN);
    if (Atomics.add(c, COUNT, 1) === this.layout.participants - 1) {
      Atomics.store(c, COUNT, 0);
      Atomics.add(c, GEN, 1);
      Atomics.notify(c, GEN);
      return;
    }
    const deadline = performance.now() + stallMs;
    while (Atomics.load(c, GEN) === gen) {
      this.throwIfAborted();
      const left = deadline - performance.now();
      if (left <= 0) {
        this.abort(`data-parallel training stalled: participant ${this.rank} waited ${Math.round(stallMs / 1000)} s for the others`);
        this.throwIfAborted();
      }
      Atomics.wait(c, GEN, gen, Math.min(left, 1000));
    }
  }

  /** Marks the run failed (first failure wins) and wakes everyone, who then throw ParallelAbort. */
  abort(message: string): void {
    if (Atomics.compareExchange(this.ctrl, ABORT, 0, this.rank + 1) === 0) {
      const bytes = new TextEncoder().encode(message).subarray(0, ERR_BYTES);
      this.err.set(bytes);
      Atomics.store(this.ctrl, ERR_LEN, bytes.length);
    }
    Atomics.notify(this.ctrl, GEN);
  }

  throwIfAborted(): void {
    const who = Atomics.load(this.ctrl, ABORT);
    if (who === 0) return;
    const len = Atomics.load(this.ctrl, ERR_LEN);
    const msg = new TextDecoder().decode(this.err.slice(0, len));
    throw new ParallelAbort(`data-parallel training failed in participant ${who - 1}: ${msg}`);
  }

  /** Driver: publish the next step (or the end) and release everyone. */
  post(cmd: number, batch: readonly number[] = [], step = 0, dropoutSeed = 0, stallMs?: number): void {
    this.indices.set(batch);
    this.ctrl[BATCH] = batch.length;
    this.ctrl[STEP] = step;
    this.ctrl[DROPOUT] = dropoutSeed | 0;
    this.ctrl[CMD] = cmd;
    this.barrier(stallMs);
  }

  /** Helper: wait for the driver's next command. */
  receive(): { cmd: number; batch: number[]; step: number; dropoutSeed: number } {
    this.barrier();
    const n = this.ctrl[BATCH]!;
    return { cmd: this.ctrl[CMD]!, batch: Array.from(this.indices.subarray(0, n)), step: this.ctrl[STEP]!, dropoutSeed: this.ctrl[DROPOUT]! >>> 0 };
  }

  slot(rank: number): Float32Array {
    const p = this.layout.gradSize;
    return this.grads.subarray(rank * p, (rank + 1) * p);
  }

  /**
   * All-reduce of the slots, after this participant wrote its own: once every slot is written, each
   * participant sums all of them itself, in rank order, so every copy of the sum has the same bits (and for a
   * fixed participant count, the same bits in every run). Summing locally costs one pass over N slots but
   * saves a second barrier, and under a loaded scheduler every barrier costs a wake-up. The slots are not
   * written again before the next step's command barrier, which everyone passes only after this.
   * Returns the sum of the losses, in rank order.
   */
  allReduce(stallMs?: number): number {
    this.barrier(stallMs);
    const n = this.layout.participants;
    const p = this.layout.gradSize;
    const g = this.grads;
    const out = this.reduced;
    out.set(g.subarray(0, p));
    for (let r = 1; r < n; r++) {
      const o = r * p;
      for (let i = 0; i < p; i++) out[i] = out[i]! + g[o + i]!;
    }
    let loss = 0;
    for (let r = 0; r < n; r++) loss += this.losses[r]!;
    return loss;
  }
}
