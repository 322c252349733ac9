import type { AggregationOutcome, Outbound } from '../../shared/aggregation/seam.js';
import { SecAggClientSession } from '../../shared/secagg/client.js';
import { generateIdentity, type IdentityKeyPair } from '../../shared/secagg/keys.js';
import type { SecAggParamsInput } from '../../shared/secagg/params.js';
import { SecAggServerSession, type SecAggServerOptions } from '../../shared/secagg/server.js';

export interface Sent { from: string; type: string; payload: unknown }

/**
 * A step-by-step in-memory round for tests that need to interfere: hooks see every message before it is
 * delivered and may swallow it (a dropout) or inject others.
 */
export class Harness {
  readonly ids: string[];
  readonly identities = new Map<string, IdentityKeyPair>();
  readonly server: SecAggServerSession;
  readonly clients = new Map<string, SecAggClientSession>();
  readonly toServerLog: Sent[] = [];
  readonly toClientLog: Outbound[] = [];
  readonly errors: Array<{ at: string; error: unknown }> = [];
  readonly gone = new Set<string>();
  private queue: Outbound[] = [];
  /** Return false to swallow the message. */
  beforeServer: (msg: Sent) => boolean = () => true;
  beforeClient: (msg: Outbound) => boolean = () => true;

  constructor(
    readonly updates: Float32Array[], readonly weights: number[], readonly params: SecAggParamsInput,
    serverOptions: Pick<SecAggServerOptions, 'unmaskInWorker'> = {},
  ) {
    this.ids = updates.map((_, i) => `client-${String(i).padStart(3, '0')}`);
    for (const id of this.ids) this.identities.set(id, generateIdentity());
    this.server = new SecAggServerSession({
      params, identities: new Map([...this.identities].map(([id, kp]) => [id, kp.publicKey])), ...serverOptions,
    });
    this.ids.forEach((id, i) => {
      const c = new SecAggClientSession({ clientId: id, identity: this.identities.get(id)!, params });
      c.submit(updates[i]!, weights[i]!);
      this.clients.set(id, c);
    });
  }

  begin(): void { this.queue.push(...this.server.begin(this.ids)); }

  /** The client disconnects: it receives nothing more and the server is told. */
  drop(id: string): void {
    this.gone.add(id);
    this.queue.push(...this.server.dropped(id));
  }

  sendToServer(from: string, type: string, payload: unknown): void {
    const msg = { from, type, payload };
    if (!this.beforeServer(msg)) return;
    this.toServerLog.push(msg);
    try { this.queue.push(...this.server.handle(from, type, payload)); } catch (e) { this.errors.push({ at: `server<-${from}`, error: e }); }
  }

  sendToClient(msg: Outbound): void {
    if (this.gone.has(msg.to) || !this.beforeClient(msg)) return;
    this.toClientLog.push(msg);
    let out: Outbound[] = [];
    try { out = this.clients.get(msg.to)!.handle(msg.type, msg.payload); } catch (e) { this.errors.push({ at: `${msg.to}<-${msg.type}`, error: e }); }
    for (const o of out) if (!this.gone.has(msg.to)) this.sendToServer(msg.to, o.type, o.payload);
  }

  /** Delivers everything queued (and whatever that triggers). */
  pump(): void {
    while (this.queue.length > 0) this.sendToClient(this.queue.shift()!);
  }

  /** Runs to the end, expiring deadlines whenever nothing is left to deliver. */
  run(): AggregationOutcome {
    for (let i = 0; i < 10 && this.server.outcome().status === 'pending'; i++) {
      this.pump();
      if (this.server.outcome().status === 'pending') this.queue.push(...this.server.expire());
    }
    this.pump();
    return this.server.outcome();
  }
}

export function randomUpdates(n: number, m: number, scale: number, seed = 1): Float32Array[] {
  let x = seed >>> 0 || 1;
  const r = (): number => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
  return Array.from({ length: n }, () => Float32Array.from({ length: m }, () => (r() * 2 - 1) * scale));
}

export function weightedMean(updates: readonly Float32Array[], weights: readonly number[], ids: readonly string[], contributors: readonly string[], clip = Infinity): Float64Array {
  const m = updates[0]!.length;
  const out = new Float64Array(m);
  let total = 0;
  for (const c of contributors) {
    const i = ids.indexOf(c);
    total += weights[i]!;
    for (let j = 0; j < m; j++) out[j]! += weights[i]! * Math.max(-clip, Math.min(clip, updates[i]![j]!));
  }
  for (let j = 0; j < m; j++) out[j]! /= total;
  return out;
}

/** Largest |a − b| and the allowed error: the quantisation bound plus float32 rounding of the output. */
export function compare(expected: Float64Array, got: Float32Array, quantBound: number): { maxErr: number; allowed: number } {
  let maxErr = 0;
  let maxAbs = 0;
  for (let j = 0; j < expected.length; j++) {
    maxErr = Math.max(maxErr, Math.abs(expected[j]! - got[j]!));
    maxAbs = Math.max(maxAbs, Math.abs(expected[j]!));
  }
  return { maxErr, allowed: quantBound + maxAbs * 2 ** -23 };
}
