import type { AggregationOutcome, Outbound, ServerAggregationSession } from '../aggregation/seam.js';
import { FedProfileError } from '../errors.js';
import { SecAggError } from './errors.js';
import { buildNeighbourGraph, type RandomIndex } from './graph.js';
import { verifySignature, x25519, x25519Private, x25519PublicKey } from './keys.js';
import {
  AdvertiseSchema, MaskedInputSchema, MSG, ShareKeysSchema, UnmaskSharesSchema, asWords, parsePayload, wireSize,
  type AdvertisePayload,
} from './messages.js';
import { deriveGraphParams, parseSecAggParams, type SecAggParams, type SecAggParamsInput } from './params.js';
import { addMask, pairMaskKey, pairSign, selfMaskKey } from './prg.js';
import {
  MODULUS_BITS, TRAILER, checkCohortFits, clientBitWidth, decodeSum, fractionalBits, quantisationErrorBound,
} from './quantise.js';
import { combineShares } from './shamir.js';
import { advertiseTranscript } from './transcript.js';

export interface SecAggServerOptions {
  params: SecAggParamsInput;
  /** Enrolled identity public keys (Ed25519, 32 bytes) by client id. */
  identities: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>;
  /**
   * Uniform integer in [0, bound) for relabelling the neighbour graph. Default: the OS CSPRNG. A seeded
   * source is for reproducible simulations; it weakens nothing the protocol relies on, since SecAgg+ already
   * lets the server pick the graph (see README, Threat model).
   */
  graphRandomIndex?: RandomIndex;
}

export type SecAggServerStage = 'idle' | 'advertise' | 'share-keys' | 'masked-input' | 'unmask' | 'done' | 'aborted';

const STAGE_OF_TYPE: Record<string, { stage: SecAggServerStage; index: number }> = {
  [MSG.advertise]: { stage: 'advertise', index: 1 },
  [MSG.shareKeys]: { stage: 'share-keys', index: 2 },
  [MSG.maskedInput]: { stage: 'masked-input', index: 3 },
  [MSG.unmaskShares]: { stage: 'unmask', index: 4 },
};
const STAGE_INDEX: Record<SecAggServerStage, number> = {
  'idle': 0, 'advertise': 1, 'share-keys': 2, 'masked-input': 3, 'unmask': 4, 'done': 5, 'aborted': 5,
};

interface Sealed { nonce: Uint8Array; ciphertext: Uint8Array }

/**
 * The SecAgg+ server: routes keys and sealed shares between neighbours, adds each masked vector into one
 * running Uint32 sum as it arrives (memory O(m + n·k)), and at the end rebuilds the self-mask seeds of the
 * survivors and the mask keys of clients that dropped after sharing, removes those masks and decodes.
 */
export class SecAggServerSession implements ServerAggregationSession {
  private readonly params: SecAggParams;
  private readonly identities: (id: string) => Uint8Array | undefined;
  private readonly graphRandomIndex?: RandomIndex;
  private _stage: SecAggServerStage = 'idle';
  private result: AggregationOutcome = { status: 'pending' };
  private participants = new Set<string>();
  private graph = new Map<string, string[]>();
  private k = 0;
  private t = 0;
  private fracBits = 0;
  private readonly length: number;
  /** Disconnected, or excluded for a bad signature: no longer waited for. */
  private gone = new Set<string>();
  private answered: Array<Set<string>> = [new Set(), new Set(), new Set(), new Set(), new Set()];
  /** Who the current stage still waits for; the stage closes when it empties. */
  private waiting = new Set<string>();
  private expected = new Set<string>();
  private adverts = new Map<string, AdvertisePayload>();
  private keysSentTo = new Map<string, Set<string>>();
  private sealedShares = new Map<string, Map<string, Sealed>>();
  private mutual = new Map<string, string[]>();
  private contributors: string[] = [];
  private sum: Uint32Array;
  private unmaskAsked = new Map<string, { survivors: Set<string>; dropped: Set<string> }>();
  private seedShares = new Map<string, Uint8Array[]>();
  private keyShares = new Map<string, Uint8Array[]>();
  private counters = { rejectedMessages: 0, badSignatures: 0, unenrolled: 0, bytesIn: 0, prunedForDegree: 0, pairMasksRemoved: 0 };

  constructor(opts: SecAggServerOptions) {
    this.params = parseSecAggParams(opts.params);
    const ids = opts.identities;
    this.identities = ids instanceof Map ? (id) => ids.get(id) : (id) => (ids as Record<string, Uint8Array>)[id];
    this.graphRandomIndex = opts.graphRandomIndex;
    this.length = this.params.dimension + TRAILER;
    this.sum = new Uint32Array(this.length);
  }

  get stage(): string { return this._stage; }
  /** The neighbour graph (for tests and the round record); empty before begin(). */
  get neighbourGraph(): ReadonlyMap<string, readonly string[]> { return this.graph; }
  get graphParams(): { neighbors: number; threshold: number } { return { neighbors: this.k, threshold: this.t }; }

  outcome(): AggregationOutcome { return this.result; }

  begin(participants: readonly string[]): Outbound[] {
    if (this._stage !== 'idle') throw new SecAggError('wrong-stage', 'this SecAgg+ session has already begun');
    this.participants = new Set(participants);
    const n = this.participants.size;
    try {
      const g = deriveGraphParams(n, this.params);
      checkCohortFits(n, this.params.maxWeight);
      this.fracBits = fractionalBits(n, this.params.clip);
      this.k = g.neighbors;
      this.t = g.threshold;
    } catch (e) {
      return this.abort(e instanceof FedProfileError ? e.message : String(e));
    }
    const missing = [...this.participants].filter((p) => !this.identities(p));
    // Without an enrolled identity key nobody can check a client's keys: it is left out, and counted.
    for (const p of missing) this.gone.add(p);
    this.counters.unenrolled = missing.length;
    this.graph = buildNeighbourGraph([...this.participants], this.k, this.graphRandomIndex);
    this.enterStage('advertise', [...this.participants]);
    const out: Outbound[] = [];
    for (const [id, nbs] of this.graph) {
      if (this.gone.has(id)) continue;
      const neighbours = nbs.filter((v) => !this.gone.has(v)).map((v) => ({ id: v, identityKey: this.identities(v)! }));
      out.push({ to: id, type: MSG.setup, payload: { participants: n, threshold: this.t, neighbours } });
    }
    return out.concat(this.advanceIfComplete());
  }

  handle(from: string, type: string, payload: unknown): Outbound[] {
    try {
      return this.dispatch(from, type, payload);
    } catch (e) {
      this.counters.rejectedMessages++;
      throw e;
    }
  }

  dropped(clientId: string): Outbound[] {
    if (!this.participants.has(clientId) || this.gone.has(clientId)) return [];
    this.gone.add(clientId);
    this.waiting.delete(clientId);
    return this.advanceIfComplete();
  }

  expire(): Outbound[] {
    return this.closeStage();
  }

  private enterStage(stage: SecAggServerStage, expected: Iterable<string>): void {
    this._stage = stage;
    this.expected = new Set(expected);
    this.waiting = new Set([...this.expected].filter((id) => !this.gone.has(id)));
  }

  private dispatch(from: string, type: string, payload: unknown): Outbound[] {
    const spec = STAGE_OF_TYPE[type];
    if (!spec) throw new SecAggError('malformed', `unknown SecAgg+ message type "${type}"`);
    if (!this.participants.has(from)) throw new SecAggError('unknown-sender', `${from} is not a participant of this round`);
    if (this._stage === 'done' || this._stage === 'aborted') {
      throw new SecAggError('wrong-stage', `${type} from ${from} arrived after the round ${this._stage === 'done' ? 'finished' : 'aborted'}`);
    }
    if (this.answered[spec.index]!.has(from)) throw new SecAggError('replay', `${type} from ${from} was already accepted`);
    if (this.gone.has(from)) throw new SecAggError('wrong-stage', `${from} was dropped from this round; ${type} ignored`);
    const now = STAGE_INDEX[this._stage];
    if (spec.index < now) throw new SecAggError('wrong-stage', `${type} from ${from} arrived after its stage closed (now ${this._stage})`);
    if (spec.index > now) throw new SecAggError('wrong-stage', `${type} from ${from} arrived out of order (still ${this._stage})`);
    if (!this.expected.has(from)) throw new SecAggError('wrong-stage', `${from} is not expected to send ${type}`);
    switch (type) {
      case MSG.advertise: this.onAdvertise(from, payload); break;
      case MSG.shareKeys: this.onShareKeys(from, payload); break;
      case MSG.maskedInput: this.onMaskedInput(from, payload); break;
      default: this.onUnmaskShares(from, payload); break;
    }
    this.answered[spec.index]!.add(from);
    this.waiting.delete(from);
    this.counters.bytesIn += type === MSG.maskedInput ? asWords((payload as { vector: Uint32Array }).vector).byteLength : wireSize(type, payload);
    return this.advanceIfComplete();
  }

  private onAdvertise(from: string, payload: unknown): void {
    const p = parsePayload(AdvertiseSchema, MSG.advertise, payload);
    const { federationId, round } = this.params;
    if (!verifySignature(advertiseTranscript(federationId, round, from, p.cPk, p.sPk), p.signature, this.identities(from)!)) {
      // An unverifiable advertisement cannot be trusted later either: the round goes on without this client.
      this.gone.add(from);
      this.counters.badSignatures++;
      throw new SecAggError('bad-signature', `the key advertisement of ${from} does not verify against its enrolled identity; `
        + 'it is excluded from this round');
    }
    this.adverts.set(from, { cPk: p.cPk, sPk: p.sPk, signature: p.signature });
  }

  private onShareKeys(from: string, payload: unknown): void {
    const p = parsePayload(ShareKeysSchema, MSG.shareKeys, payload);
    const allowed = this.keysSentTo.get(from)!;
    const got = new Map<string, Sealed>();
    for (const s of p.shares) {
      if (!allowed.has(s.to)) throw new SecAggError('misaddressed', `${from} sent a share to ${s.to}, which is not one of its neighbours`);
      if (got.has(s.to)) throw new SecAggError('malformed', `${from} sent two shares to ${s.to}`);
      got.set(s.to, { nonce: s.nonce, ciphertext: s.ciphertext });
    }
    if (got.size < this.t) throw new SecAggError('malformed', `${from} shared with ${got.size} neighbours; at least ${this.t} are needed`);
    this.sealedShares.set(from, got);
  }

  private onMaskedInput(from: string, payload: unknown): void {
    const p = parsePayload(MaskedInputSchema, MSG.maskedInput, payload);
    const v = asWords(p.vector);
    if (v.length !== this.length) {
      throw new SecAggError('wrong-length', `masked input from ${from} has ${v.length} values, expected ${this.length} `
        + `(${this.params.dimension} parameters + ${TRAILER})`);
    }
    const sum = this.sum;
    for (let i = 0; i < v.length; i++) sum[i] = sum[i]! + v[i]!;
    this.contributors.push(from);
  }

  private onUnmaskShares(from: string, payload: unknown): void {
    const p = parsePayload(UnmaskSharesSchema, MSG.unmaskShares, payload);
    const asked = this.unmaskAsked.get(from)!;
    const sameSet = (list: { of: string }[], want: Set<string>): boolean =>
      list.length === want.size && new Set(list.map((x) => x.of)).size === list.length && list.every((x) => want.has(x.of));
    if (!sameSet(p.seedShares, asked.survivors) || !sameSet(p.keyShares, asked.dropped)) {
      throw new SecAggError('bad-request', `unmask shares from ${from} do not match what was asked`);
    }
    for (const s of p.seedShares) push(this.seedShares, s.of, s.share);
    for (const s of p.keyShares) push(this.keyShares, s.of, s.share);
  }

  private advanceIfComplete(): Outbound[] {
    const idx = STAGE_INDEX[this._stage];
    if (idx < 1 || idx > 4 || this.waiting.size > 0) return [];
    return this.closeStage();
  }

  private closeStage(): Outbound[] {
    switch (this._stage) {
      case 'advertise': return this.closeAdvertise();
      case 'share-keys': return this.closeShareKeys();
      case 'masked-input': return this.closeMaskedInput();
      case 'unmask': return this.closeUnmask();
      default: return [];
    }
  }

  /** Removes nodes with fewer than t neighbours inside `alive`, repeatedly, since each removal lowers others' degree. */
  private pruneLowDegree(alive: Set<string>, neighbours: (u: string) => readonly string[]): void {
    let changed = true;
    while (changed) {
      changed = false;
      for (const u of alive) {
        if (neighbours(u).filter((v) => alive.has(v)).length < this.t) {
          alive.delete(u);
          this.counters.prunedForDegree++;
          changed = true;
        }
      }
    }
  }

  private closeAdvertise(): Outbound[] {
    const u1 = new Set([...this.adverts.keys()].filter((u) => !this.gone.has(u)));
    this.pruneLowDegree(u1, (u) => this.graph.get(u)!);
    if (u1.size < this.t) return this.abort(`only ${u1.size} clients advertised keys with enough live neighbours; at least ${this.t} are needed`);
    this.enterStage('share-keys', u1);
    const out: Outbound[] = [];
    for (const u of u1) {
      const peers = this.graph.get(u)!.filter((v) => u1.has(v));
      this.keysSentTo.set(u, new Set(peers));
      out.push({ to: u, type: MSG.keys, payload: { peers: peers.map((id) => ({ id, ...this.adverts.get(id)! })) } });
    }
    return out.concat(this.advanceIfComplete());
  }

  private closeShareKeys(): Outbound[] {
    const u2 = new Set([...this.sealedShares.keys()].filter((u) => !this.gone.has(u)));
    const sentTo = (u: string, v: string): boolean => this.sealedShares.get(u)?.has(v) ?? false;
    // A pair masks only if each sent the other its shares; otherwise neither could recover the pair mask.
    const mutualOf = (u: string): string[] => this.graph.get(u)!.filter((v) => u2.has(v) && sentTo(u, v) && sentTo(v, u));
    this.pruneLowDegree(u2, mutualOf);
    if (u2.size < this.t) return this.abort(`only ${u2.size} clients shared their keys with enough neighbours; at least ${this.t} are needed`);
    this.enterStage('masked-input', u2);
    const out: Outbound[] = [];
    for (const u of u2) {
      const m = mutualOf(u).filter((v) => u2.has(v));
      this.mutual.set(u, m);
      out.push({ to: u, type: MSG.shares, payload: { shares: m.map((v) => ({ from: v, ...this.sealedShares.get(v)!.get(u)! })) } });
    }
    this.sealedShares = new Map();
    return out.concat(this.advanceIfComplete());
  }

  private closeMaskedInput(): Outbound[] {
    const u3 = new Set(this.contributors);
    if (u3.size < this.t) {
      return this.abort(`only ${u3.size} clients sent masked input; at least ${this.t} are needed so no sum covers too few clients`);
    }
    // Every survivor's seed, and the key of every dropped client that masked with a survivor, need t holders in U3.
    for (const [v, m] of this.mutual) {
      const holders = m.filter((u) => u3.has(u)).length;
      if (holders === 0 && !u3.has(v)) continue;
      if (holders < this.t) {
        return this.abort(`${u3.has(v) ? 'survivor' : 'dropped client'} ${v} has only ${holders} surviving share holders `
          + `of the ${this.t} needed to remove its masks (too many dropouts: ${this.participants.size - u3.size})`);
      }
    }
    this.enterStage('unmask', u3);
    const out: Outbound[] = [];
    for (const u of u3) {
      const m = this.mutual.get(u)!;
      const survivors = m.filter((v) => u3.has(v));
      const dropped = m.filter((v) => !u3.has(v));
      this.unmaskAsked.set(u, { survivors: new Set(survivors), dropped: new Set(dropped) });
      out.push({ to: u, type: MSG.unmask, payload: { survivors, dropped } });
    }
    return out.concat(this.advanceIfComplete());
  }

  private closeUnmask(): Outbound[] {
    const { federationId, round, maxWeight, clip } = this.params;
    const u3 = new Set(this.contributors);
    const needSeed = this.contributors;
    const needKey = [...this.mutual.keys()].filter((v) => !u3.has(v) && this.mutual.get(v)!.some((u) => u3.has(u)));
    for (const [kind, ids, store] of [['seed', needSeed, this.seedShares], ['key', needKey, this.keyShares]] as const) {
      for (const v of ids) {
        const got = store.get(v)?.length ?? 0;
        if (got < this.t) return this.abort(`only ${got} of the ${this.t} ${kind} shares of ${v} arrived; its masks cannot be removed`);
      }
    }
    const seeds = new Map<string, Uint8Array>();
    for (const v of needSeed) {
      const s = reconstruct(this.seedShares.get(v)!, this.t);
      if (!s) return this.abort(`the seed shares of ${v} are inconsistent`);
      seeds.set(v, s);
    }
    const keys = new Map<string, Uint8Array>();
    for (const v of needKey) {
      const sk = reconstruct(this.keyShares.get(v)!, this.t);
      if (!sk || sk.length !== 32 || !bytesEqual(x25519PublicKey(sk), this.adverts.get(v)!.sPk)) {
        return this.abort(`the key shares of dropped client ${v} do not rebuild its advertised mask key`);
      }
      keys.set(v, sk);
    }
    const sum = this.sum;
    for (const [v, seed] of seeds) addMask(sum, selfMaskKey(seed, federationId, round, v), -1);
    for (const [v, sk] of keys) {
      const priv = x25519Private(sk);
      for (const u of this.mutual.get(v)!) {
        if (!u3.has(u)) continue;
        const shared = x25519(priv, this.adverts.get(u)!.sPk)!;
        // u added pairSign(u, v) · PRG(s_uv); take it back out.
        addMask(sum, pairMaskKey(shared, federationId, round, u, v), pairSign(u, v) === 1 ? -1 : 1);
        this.counters.pairMasksRemoved++;
      }
    }
    const n = u3.size;
    const decoded = decodeSum(sum, n, maxWeight, this.fracBits);
    if (decoded.totalWeight < n || decoded.totalWeight > n * maxWeight || decoded.clippedFraction > 1) {
      return this.abort(`unmasking produced an impossible weight sum (${decoded.totalWeight} for ${n} contributors): `
        + 'a client or share was corrupted');
    }
    this._stage = 'done';
    this.sum = new Uint32Array(0);
    this.result = {
      status: 'done',
      mean: decoded.mean,
      totalWeight: decoded.totalWeight,
      contributors: [...this.contributors],
      metrics: {
        contributors: n,
        dropouts: this.participants.size - n,
        neighbors: this.k,
        threshold: this.t,
        clippedFraction: decoded.clippedFraction,
        clip,
        bitWidth: clientBitWidth(clip, this.fracBits),
        fractionalBits: this.fracBits,
        modulusBits: MODULUS_BITS,
        quantisationErrorBound: quantisationErrorBound(n, this.fracBits, decoded.totalWeight, maxWeight),
        droppedAfterSharing: keys.size,
        pairMasksRemoved: this.counters.pairMasksRemoved,
        rejectedMessages: this.counters.rejectedMessages,
        badSignatures: this.counters.badSignatures,
        unenrolled: this.counters.unenrolled,
        prunedForDegree: this.counters.prunedForDegree,
        bytesIn: this.counters.bytesIn,
      },
    };
    return [];
  }

  private abort(reason: string): Outbound[] {
    this._stage = 'aborted';
    this.result = { status: 'aborted', reason: `secure aggregation aborted: ${reason}` };
    this.sum = new Uint32Array(0);
    return [...this.participants].filter((p) => !this.gone.has(p))
      .map((to) => ({ to, type: MSG.abort, payload: { reason: this.result.status === 'aborted' ? this.result.reason : reason } }));
  }
}

function push(map: Map<string, Uint8Array[]>, key: string, value: Uint8Array): void {
  const list = map.get(key);
  if (list) list.push(value); else map.set(key, [value]);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Combines t shares; when more arrived, a second, different t-subset must agree (catches a corrupted share). */
function reconstruct(shares: Uint8Array[], t: number): Uint8Array | undefined {
  const a = combineShares(shares.slice(0, t));
  if (!a) return undefined;
  if (shares.length > t) {
    const b = combineShares(shares.slice(shares.length - t));
    if (!b || !bytesEqual(a, b)) return undefined;
  }
  return a;
}
