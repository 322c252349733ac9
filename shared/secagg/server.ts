import type { AggregationOutcome, Outbound, ServerAggregationSession, SessionSettledListener } from '../aggregation/seam.js';
import { FedProfileError } from '../errors.js';
import { SecAggError } from './errors.js';
import { buildNeighbourGraph, type RandomIndex } from './graph.js';
import { verifySignature } from './keys.js';
import {
  AdvertiseSchema, ConsistencySigSchema, MaskedInputSchema, MSG, SECAGG_PROTOCOL_VERSION, ShareCheckSchema, ShareKeysSchema,
  UnmaskSharesSchema, asWords, parsePayload, wireSize, type AdvertisePayload,
} from './messages.js';
import { deriveGraphParams, parseSecAggParams, type SecAggParams, type SecAggParamsInput } from './params.js';
import {
  MODULUS_BITS, TRAILER, checkCohortFits, clientBitWidth, decodeSum, fractionalBits, quantisationErrorBound,
} from './quantise.js';
import { advertiseTranscript, consistencyTranscript } from './transcript.js';
import { packShares, runUnmaskJob, type UnmaskJob, type UnmaskResult } from './unmask.js';

/** Shamir shares of 32-byte secrets: one x coordinate and 32 bytes. */
const SHARE_LENGTH = 33;
import { runUnmaskJobInWorker } from './unmask-host.js';

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
  /**
   * Unmask on a worker thread (the coordinator sets this): mask expansion, the key agreements with dropped
   * clients and the summing leave the event loop. outcome() then stays pending (stage 'unmasking') until
   * settled() resolves. Unset: unmasking runs inside the handle() call that closes the last stage.
   */
  unmaskInWorker?: boolean;
  /** Called once background unmasking decided the outcome (never from inside handle()). */
  onSettled?: SessionSettledListener;
}

export type SecAggServerStage =
  | 'unmasking' | 'idle' | 'advertise' | 'share-keys' | 'share-check' | 'masked-input' | 'consistency' | 'unmask' | 'done' | 'aborted';

const STAGE_OF_TYPE: Record<string, { stage: SecAggServerStage; index: number }> = {
  [MSG.advertise]: { stage: 'advertise', index: 1 },
  [MSG.shareKeys]: { stage: 'share-keys', index: 2 },
  [MSG.shareCheck]: { stage: 'share-check', index: 3 },
  [MSG.maskedInput]: { stage: 'masked-input', index: 4 },
  [MSG.consistencySig]: { stage: 'consistency', index: 5 },
  [MSG.unmaskShares]: { stage: 'unmask', index: 6 },
};
const STAGE_INDEX: Record<SecAggServerStage, number> = {
  'idle': 0, 'advertise': 1, 'share-keys': 2, 'share-check': 3, 'masked-input': 4, 'consistency': 5, 'unmask': 6, 'unmasking': 7, 'done': 7, 'aborted': 7,
};
const LAST_INPUT_STAGE = 6;

/** Own-property lookup: a client named like an Object.prototype member (`toString`) is not thereby enrolled. */
function identityLookup(ids: SecAggServerOptions['identities']): (id: string) => Uint8Array | undefined {
  const get = ids instanceof Map
    ? (id: string): unknown => ids.get(id)
    : (id: string): unknown => (Object.prototype.hasOwnProperty.call(ids, id) ? (ids as Record<string, unknown>)[id] : undefined);
  return (id) => {
    const key = get(id);
    return key instanceof Uint8Array && key.length === 32 ? key : undefined;
  };
}

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
  private readonly unmaskInWorker: boolean;
  private readonly onSettled?: SessionSettledListener;
  private background: Promise<void> = Promise.resolve();
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
  private answered: Array<Set<string>> = Array.from({ length: LAST_INPUT_STAGE + 1 }, () => new Set<string>());
  /** Who the current stage still waits for; the stage closes when it empties. */
  private waiting = new Set<string>();
  private expected = new Set<string>();
  private adverts = new Map<string, AdvertisePayload>();
  private keysSentTo = new Map<string, Set<string>>();
  private sealedShares = new Map<string, Map<string, Sealed>>();
  private relayed = new Map<string, Set<string>>();
  private accepted = new Map<string, Set<string>>();
  /** Pair-mask partners of each client that was asked for masked input. */
  private mutual = new Map<string, string[]>();
  private contributors: string[] = [];
  private members: string[] = [];
  private signatures = new Map<string, Uint8Array>();
  /** The consistency transcript, built once: every member signs the same bytes. */
  private membersTranscript: Uint8Array = new Uint8Array(0);
  private sum: Uint32Array;
  private unmaskAsked = new Map<string, { survivors: Set<string>; dropped: Set<string> }>();
  private seedShares = new Map<string, Uint8Array[]>();
  private keyShares = new Map<string, Uint8Array[]>();
  private counters = {
    rejectedMessages: 0, badSignatures: 0, unenrolled: 0, bytesIn: 0, prunedForDegree: 0, pairMasksRemoved: 0,
    rejectedSharePairs: 0, consistencyBytesIn: 0,
  };

  constructor(opts: SecAggServerOptions) {
    this.params = parseSecAggParams(opts.params);
    this.identities = identityLookup(opts.identities);
    this.graphRandomIndex = opts.graphRandomIndex;
    this.unmaskInWorker = opts.unmaskInWorker ?? false;
    this.onSettled = opts.onSettled;
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
    // Without an enrolled identity key nobody can check a client's keys: it is left out of the graph, and counted.
    const enrolled = [...this.participants].filter((p) => this.identities(p));
    for (const p of this.participants) if (!this.identities(p)) this.gone.add(p);
    this.counters.unenrolled = this.participants.size - enrolled.length;
    const n = enrolled.length;
    try {
      const g = deriveGraphParams(n, this.params);
      checkCohortFits(n, this.params.maxWeight);
      this.fracBits = fractionalBits(n, this.params.clip);
      this.k = g.neighbors;
      this.t = g.threshold;
    } catch (e) {
      return this.abort(e instanceof FedProfileError ? e.message : String(e));
    }
    this.graph = buildNeighbourGraph(enrolled, this.k, this.graphRandomIndex);
    this.enterStage('advertise', enrolled);
    const out: Outbound[] = [];
    for (const [id, nbs] of this.graph) {
      const neighbours = nbs.map((v) => ({ id: v, identityKey: this.identities(v)! }));
      out.push({ to: id, type: MSG.setup, payload: { version: SECAGG_PROTOCOL_VERSION, participants: n, threshold: this.t, neighbours } });
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
      case MSG.shareCheck: this.onShareCheck(from, payload); break;
      case MSG.maskedInput: this.onMaskedInput(from, payload); break;
      case MSG.consistencySig: this.onConsistencySig(from, payload); break;
      default: this.onUnmaskShares(from, payload); break;
    }
    this.answered[spec.index]!.add(from);
    this.waiting.delete(from);
    const size = type === MSG.maskedInput ? asWords((payload as { vector: Uint32Array }).vector).byteLength : wireSize(type, payload);
    this.counters.bytesIn += size;
    if (type === MSG.consistencySig) this.counters.consistencyBytesIn += size;
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

  private onShareCheck(from: string, payload: unknown): void {
    const p = parsePayload(ShareCheckSchema, MSG.shareCheck, payload);
    const relayed = this.relayed.get(from)!;
    const got = new Set<string>();
    for (const v of p.accepted) {
      if (!relayed.has(v)) throw new SecAggError('bad-request', `${from} accepted a share from ${v}, which was never relayed to it`);
      if (got.has(v)) throw new SecAggError('malformed', `${from} accepted ${v} twice`);
      got.add(v);
    }
    this.counters.rejectedSharePairs += relayed.size - got.size;
    this.accepted.set(from, got);
  }

  private onConsistencySig(from: string, payload: unknown): void {
    const p = parsePayload(ConsistencySigSchema, MSG.consistencySig, payload);
    if (!verifySignature(this.membersTranscript, p.signature, this.identities(from)!)) {
      this.gone.add(from);
      this.counters.badSignatures++;
      throw new SecAggError('bad-signature', `the consistency signature of ${from} does not verify; it is not asked to unmask`);
    }
    this.signatures.set(from, p.signature);
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
    if (idx < 1 || idx > LAST_INPUT_STAGE || this.waiting.size > 0) return [];
    return this.closeStage();
  }

  private closeStage(): Outbound[] {
    switch (this._stage) {
      case 'advertise': return this.closeAdvertise();
      case 'share-keys': return this.closeShareKeys();
      case 'share-check': return this.closeShareCheck();
      case 'masked-input': return this.closeMaskedInput();
      case 'consistency': return this.closeConsistency();
      case 'unmask': return this.closeUnmask();
      default: return [];
    }
  }

  /**
   * Removes nodes with fewer than t neighbours inside `alive` until none is left, since each removal lowers
   * others' degree (O(n·k): each adjacency list is built once, then nodes are peeled off a queue).
   * `linked` must be symmetric. Returns each remaining node's neighbours among the remaining nodes.
   */
  private pruneLowDegree(alive: Set<string>, linked: (u: string, v: string) => boolean): Map<string, string[]> {
    const adj = new Map<string, string[]>();
    for (const u of alive) adj.set(u, this.graph.get(u)!.filter((v) => alive.has(v) && linked(u, v)));
    const degree = new Map([...adj].map(([u, nbs]) => [u, nbs.length]));
    const queue = [...alive].filter((u) => degree.get(u)! < this.t);
    while (queue.length > 0) {
      const u = queue.pop()!;
      if (!alive.delete(u)) continue;
      this.counters.prunedForDegree++;
      for (const v of adj.get(u)!) {
        if (!alive.has(v)) continue;
        const d = degree.get(v)! - 1;
        degree.set(v, d);
        if (d === this.t - 1) queue.push(v);
      }
    }
    const out = new Map<string, string[]>();
    for (const u of alive) out.set(u, adj.get(u)!.filter((v) => alive.has(v)));
    return out;
  }

  private closeAdvertise(): Outbound[] {
    const u1 = new Set([...this.adverts.keys()].filter((u) => !this.gone.has(u)));
    const peersOf = this.pruneLowDegree(u1, () => true);
    if (u1.size < this.t) return this.abort(`only ${u1.size} clients advertised keys with enough live neighbours; at least ${this.t} are needed`);
    this.enterStage('share-keys', u1);
    const out: Outbound[] = [];
    for (const [u, peers] of peersOf) {
      this.keysSentTo.set(u, new Set(peers));
      const keys = peers.map((id) => { const a = this.adverts.get(id)!; return { id, cPk: a.cPk, sPk: a.sPk, signature: a.signature }; });
      out.push({ to: u, type: MSG.keys, payload: { peers: keys } });
    }
    return out.concat(this.advanceIfComplete());
  }

  private closeShareKeys(): Outbound[] {
    const u2 = new Set([...this.sealedShares.keys()].filter((u) => !this.gone.has(u)));
    const sentTo = (u: string, v: string): boolean => this.sealedShares.get(u)?.has(v) ?? false;
    // A pair can mask only if each sent the other its shares; otherwise neither could recover the pair mask.
    const mutualOf = this.pruneLowDegree(u2, (u, v) => sentTo(u, v) && sentTo(v, u));
    if (u2.size < this.t) return this.abort(`only ${u2.size} clients shared their keys with enough neighbours; at least ${this.t} are needed`);
    this.enterStage('share-check', u2);
    const out: Outbound[] = [];
    for (const [u, m] of mutualOf) {
      this.relayed.set(u, new Set(m));
      const shares = m.map((v) => { const x = this.sealedShares.get(v)!.get(u)!; return { from: v, nonce: x.nonce, ciphertext: x.ciphertext }; });
      out.push({ to: u, type: MSG.shares, payload: { shares } });
    }
    this.sealedShares = new Map();
    return out.concat(this.advanceIfComplete());
  }

  /** Pairs where either side refused the other's share are dropped: that excludes the pair, not the clients. */
  private closeShareCheck(): Outbound[] {
    const alive = new Set([...this.accepted.keys()].filter((u) => !this.gone.has(u)));
    const partnersOf = this.pruneLowDegree(alive, (u, v) => this.accepted.get(u)!.has(v) && this.accepted.get(v)!.has(u));
    if (alive.size < this.t) return this.abort(`only ${alive.size} clients hold enough valid shares; at least ${this.t} are needed`);
    this.enterStage('masked-input', alive);
    const out: Outbound[] = [];
    for (const [u, partners] of partnersOf) {
      this.mutual.set(u, partners);
      out.push({ to: u, type: MSG.maskRequest, payload: { partners } });
    }
    return out.concat(this.advanceIfComplete());
  }

  private closeMaskedInput(): Outbound[] {
    const u3 = new Set(this.contributors);
    if (u3.size < this.t) {
      return this.abort(`only ${u3.size} clients sent masked input; at least ${this.t} are needed so no sum covers too few clients`);
    }
    const fail = this.unmaskableBy(u3, u3);
    if (fail) return this.abort(fail);
    this.members = [...u3].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.membersTranscript = consistencyTranscript(this.params.federationId, this.params.round, this.members);
    this.enterStage('consistency', u3);
    const out: Outbound[] = [...u3].map((u) => ({ to: u, type: MSG.consistency, payload: { members: this.members } }));
    return out.concat(this.advanceIfComplete());
  }

  /**
   * Why the masks cannot all be removed if only `holders` answer, or undefined if they can: every
   * contributor's seed, and the key of every dropped client that masked with a contributor, need t holders.
   */
  private unmaskableBy(u3: ReadonlySet<string>, holders: ReadonlySet<string>): string | undefined {
    for (const [v, m] of this.mutual) {
      if (!u3.has(v) && !m.some((u) => u3.has(u))) continue;
      const count = m.filter((u) => holders.has(u)).length;
      if (count < this.t) {
        return `${u3.has(v) ? 'survivor' : 'dropped client'} ${v} has only ${count} surviving share holders `
          + `of the ${this.t} needed to remove its masks (dropouts: ${this.participants.size - holders.size})`;
      }
    }
    return undefined;
  }

  /**
   * Every member that signed the member set is shown its neighbours' signatures. A member reveals only
   * with t of them, so the server asks only those who have t, and checks beforehand that their answers
   * suffice to remove every mask.
   */
  private closeConsistency(): Outbound[] {
    const u3 = new Set(this.contributors);
    const signed = new Set([...this.signatures.keys()].filter((u) => !this.gone.has(u)));
    const responders = new Set([...signed].filter((u) => this.graph.get(u)!.filter((v) => signed.has(v)).length >= this.t));
    const fail = this.unmaskableBy(u3, responders);
    if (fail) return this.abort(`after the consistency check: ${fail}`);
    this.enterStage('unmask', responders);
    const out: Outbound[] = [];
    for (const u of responders) {
      const m = this.mutual.get(u)!;
      this.unmaskAsked.set(u, { survivors: new Set(m.filter((v) => u3.has(v))), dropped: new Set(m.filter((v) => !u3.has(v))) });
      const signatures = this.graph.get(u)!.filter((v) => signed.has(v)).map((id) => ({ id, signature: this.signatures.get(id)! }));
      out.push({ to: u, type: MSG.unmask, payload: { signatures } });
    }
    return out.concat(this.advanceIfComplete());
  }

  private closeUnmask(): Outbound[] {
    const { federationId, round } = this.params;
    const u3 = new Set(this.contributors);
    const needSeed = this.contributors;
    const needKey = [...this.mutual.keys()].filter((v) => !u3.has(v) && this.mutual.get(v)!.some((u) => u3.has(u)));
    for (const [kind, ids, store] of [['seed', needSeed, this.seedShares], ['key', needKey, this.keyShares]] as const) {
      for (const v of ids) {
        const got = store.get(v)?.length ?? 0;
        if (got < this.t) return this.abort(`only ${got} of the ${this.t} ${kind} shares of ${v} arrived; its masks cannot be removed`);
      }
    }
    const job: UnmaskJob = {
      federationId, round, threshold: this.t, sum: this.sum, shareLength: SHARE_LENGTH,
      seeds: needSeed.map((owner) => ({ owner, shares: packShares(this.seedShares.get(owner)!, SHARE_LENGTH) })),
      dropped: needKey.map((owner) => {
        const partners = this.mutual.get(owner)!.filter((u) => u3.has(u));
        return {
          owner, shares: packShares(this.keyShares.get(owner)!, SHARE_LENGTH), sPk: this.adverts.get(owner)!.sPk,
          partners, partnerKeys: packShares(partners.map((id) => this.adverts.get(id)!.sPk), 32),
        };
      }),
    };
    const droppedAfterSharing = job.dropped.length;
    const settle = (r: UnmaskResult): Outbound[] => (r.ok ? this.finish(r.sum, r.pairMasksRemoved, droppedAfterSharing) : this.abort(r.reason));
    wipeShares(this.seedShares);
    wipeShares(this.keyShares);
    if (!this.unmaskInWorker) return settle(runUnmaskJob(job));
    // The vector-sized work (and the share combining, O(n·t)) leaves the event loop; outcome() stays pending.
    this._stage = 'unmasking';
    this.background = runUnmaskJobInWorker(job).then(
      (r) => { settle(r); },
      (e: unknown) => { this.abort(`unmasking failed: ${e instanceof Error ? e.message : String(e)}`); },
    ).finally(() => {
      for (const x of [...job.seeds, ...job.dropped]) x.shares.fill(0);
      this.onSettled?.();
    });
    return [];
  }

  /**
   * Decodes the unmasked sum and checks it can be a sum of honest encodings: the weight sum lies in
   * [contributors, contributors × maxWeight] and every coordinate of the mean within clip plus the error
   * bound. A client can still pick any update inside [-clip, clip]; what it cannot do is leave that range.
   */
  private finish(sum: Uint32Array, pairMasksRemoved: number, droppedAfterSharing: number): Outbound[] {
    const { maxWeight, clip } = this.params;
    this.sum = new Uint32Array(0);
    const n = this.contributors.length;
    const decoded = decodeSum(sum, n, maxWeight, this.fracBits);
    sum.fill(0);
    if (decoded.totalWeight < n || decoded.totalWeight > n * maxWeight || decoded.clippedFraction > 1) {
      return this.abort(`unmasking produced an impossible weight sum (${decoded.totalWeight} for ${n} contributors, `
        + `each between 1 and ${maxWeight}): a client sent a forged weight, or a share was corrupted; the previous model stays`);
    }
    const bound = quantisationErrorBound(n, this.fracBits, decoded.totalWeight, maxWeight);
    const limit = (clip + bound) * (1 + 2 ** -20);
    for (let i = 0; i < decoded.mean.length; i++) {
      const x = decoded.mean[i]!;
      if (!(Math.abs(x) <= limit)) {
        return this.abort(`the decoded mean leaves [-clip, clip] at coordinate ${i} (${x} with clip ${clip}, error bound `
          + `${bound.toExponential(2)}): a client sent a vector outside the encoding range; the previous model stays`);
      }
    }
    this.counters.pairMasksRemoved = pairMasksRemoved;
    this._stage = 'done';
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
        quantisationErrorBound: bound,
        droppedAfterSharing,
        pairMasksRemoved,
        rejectedMessages: this.counters.rejectedMessages,
        rejectedSharePairs: this.counters.rejectedSharePairs,
        badSignatures: this.counters.badSignatures,
        unenrolled: this.counters.unenrolled,
        prunedForDegree: this.counters.prunedForDegree,
        bytesIn: this.counters.bytesIn,
        consistencyBytesIn: this.counters.consistencyBytesIn,
      },
    };
    return [];
  }

  /** Resolves once background unmasking (if any) is over, so outcome() is final for the inputs so far. */
  async settled(): Promise<void> {
    await this.background;
  }

  private abort(reason: string): Outbound[] {
    this._stage = 'aborted';
    this.result = { status: 'aborted', reason: `secure aggregation aborted: ${reason}` };
    this.sum = new Uint32Array(0);
    return [...this.participants].filter((p) => !this.gone.has(p))
      .map((to) => ({ to, type: MSG.abort, payload: { reason: this.result.status === 'aborted' ? this.result.reason : reason } }));
  }
}

function wipeShares(map: Map<string, Uint8Array[]>): void {
  for (const list of map.values()) for (const s of list) s.fill(0);
  map.clear();
}

function push(map: Map<string, Uint8Array[]>, key: string, value: Uint8Array): void {
  const list = map.get(key);
  if (list) list.push(value); else map.set(key, [value]);
}
