import type { ClientAggregationSession, Outbound } from '../aggregation/seam.js';
import { SecAggError } from './errors.js';
import {
  boxKeyFromShared, boxOpen, boxSeal, generateX25519, identitySigner, verifySignature, x25519,
  type IdentityKeyPair, type X25519KeyPair,
} from './keys.js';
import {
  AbortSchema, ConsistencySchema, KeysSchema, MaskRequestSchema, MSG, SetupSchema, SharesSchema, UnmaskSchema, parsePayload,
  type UnmaskSharesPayload,
} from './messages.js';
import { deriveGraphParams, parseSecAggParams, type SecAggParams, type SecAggParamsInput } from './params.js';
import { addMask, pairMaskKey, pairSign, roundingKey, selfMaskKey } from './prg.js';
import { checkCohortFits, fractionalBits, quantise, type RoundingSource } from './quantise.js';
import { splitSecret } from './shamir.js';
import { advertiseTranscript, consistencyTranscript, decodeSharePlaintext, encodeSharePlaintext } from './transcript.js';
import { randomBytes } from 'node:crypto';

export interface SecAggClientOptions {
  clientId: string;
  /** The client's enrolled identity (a nacl.sign key pair). */
  identity: IdentityKeyPair;
  params: SecAggParamsInput;
  /**
   * Trusted directory of enrolled identity public keys. Without it the client takes its neighbours' keys
   * from the server's setup message, which stops impersonation by other clients and the transport but not
   * by a malicious server.
   */
  identityOf?: (clientId: string) => Uint8Array | undefined;
  /**
   * Simulations only: a seed (>= 16 bytes) for the stochastic-rounding draws, so a run can be repeated bit
   * for bit. It keys a ChaCha20 stream through HKDF bound to (federation, round, client id); keys, the
   * self-mask seed and every other secret still come from the OS CSPRNG, so the masks stay fresh.
   *
   * Why this is safe for simulations: the protocol's privacy claim (README, Threat model) is that the server
   * sees masked vectors, uniform on Z_2^32 whatever the quantised input, and the unmasked sums. That rests
   * on the masks, which stay fresh; the rounding draws only keep the encoding unbiased and are not listed as
   * a protection. With a known seed each q = SR(x·w/W·2^f) is a fixed function of the update, so the
   * decoded sum loses its random rounding noise (under 2^-f per client) but still reveals no individual
   * update. Not for deployments: a
   * predictable rounding can be steered by whoever knows the seed, and a differential-privacy mechanism that
   * counts the rounding as noise (as distributed discrete-Gaussian analyses do) needs it unpredictable.
   */
  roundingSeed?: Uint8Array;
  /**
   * The weakest graph this client accepts: at least this many neighbours (or all n − 1 others when the
   * cohort is smaller) and at least this threshold. Unset: `params.neighbors` / `params.threshold` when
   * given, otherwise what `deriveGraphParams` derives from the announced n. Set it from local configuration
   * when `params` come from the server, so the server cannot talk the client into a weaker setup.
   */
  minNeighbors?: number;
  minThreshold?: number;
  /**
   * `params` came from the server (as in the SDK): the floor then ignores their neighbors, threshold,
   * expectedDropout and maxAbortProbability, and derives k from n with the protocol defaults.
   */
  paramsFromServer?: boolean;
}

export type SecAggClientStage =
  | 'awaiting-setup' | 'awaiting-keys' | 'awaiting-shares' | 'awaiting-mask-request' | 'awaiting-update'
  | 'awaiting-consistency' | 'awaiting-unmask' | 'done' | 'aborted';

interface Peer { cPk: Uint8Array; sPk: Uint8Array; boxKey: Uint8Array; maskSecret: Uint8Array }
interface Held { seedShare: Uint8Array; keyShare: Uint8Array }

export class SecAggClientSession implements ClientAggregationSession {
  private readonly id: string;
  private readonly params: SecAggParams;
  private readonly sign: (m: Uint8Array) => Uint8Array;
  private readonly identityOf?: (clientId: string) => Uint8Array | undefined;
  private readonly roundingSeed?: Uint8Array;
  private readonly minNeighbors?: number;
  private readonly minThreshold?: number;
  private readonly floorParams: SecAggParams;
  private _stage: SecAggClientStage = 'awaiting-setup';
  private threshold = 0;
  private fracBits = 0;
  private neighbourKeys = new Map<string, Uint8Array>();
  private neighbourIds = new Set<string>();
  private cKeys?: X25519KeyPair;
  private sKeys?: X25519KeyPair;
  private seed?: Uint8Array;
  private peers = new Map<string, Peer>();
  private held = new Map<string, Held>();
  private partners: string[] = [];
  private members?: readonly string[];
  private membersTranscript?: Uint8Array;
  private update?: Float32Array;
  private weight = 0;
  private submitted = false;
  /** Neighbours whose advertisement failed its signature check (excluded from the round). */
  readonly rejectedPeers: string[] = [];
  /** Neighbours whose relayed share did not open or was addressed wrongly: excluded for this pair only. */
  readonly rejectedShares: Array<{ from: string; reason: string }> = [];
  /** Coordinates of this client's update that were clipped, once masked. */
  clippedCount = 0;
  weightCapped = false;
  abortReason?: string;

  constructor(opts: SecAggClientOptions) {
    this.id = opts.clientId;
    this.params = parseSecAggParams(opts.params);
    this.sign = identitySigner(opts.identity);
    this.identityOf = opts.identityOf;
    for (const [name, v] of [['minNeighbors', opts.minNeighbors], ['minThreshold', opts.minThreshold]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 2)) throw new SecAggError('bad-request', `${name} must be an integer >= 2, got ${v}`);
    }
    const trusted = !opts.paramsFromServer;
    this.minNeighbors = opts.minNeighbors ?? (trusted ? this.params.neighbors : undefined);
    this.minThreshold = opts.minThreshold ?? (trusted ? this.params.threshold : undefined);
    this.floorParams = trusted ? this.params : parseSecAggParams({
      federationId: this.params.federationId, round: this.params.round, dimension: this.params.dimension,
    });
    if (opts.roundingSeed !== undefined) {
      if (!(opts.roundingSeed instanceof Uint8Array) || opts.roundingSeed.length < 16) {
        throw new SecAggError('bad-request', 'roundingSeed must be a Uint8Array of at least 16 bytes');
      }
      this.roundingSeed = new Uint8Array(opts.roundingSeed);
    }
  }

  get stage(): SecAggClientStage { return this._stage; }

  submit(update: Float32Array, weight: number): Outbound[] {
    if (this.submitted) throw new SecAggError('replay', 'this round\'s update was already submitted');
    if (!(update instanceof Float32Array) || update.length !== this.params.dimension) {
      throw new SecAggError('wrong-length',
        `update must be a Float32Array of ${this.params.dimension} values, got ${update instanceof Float32Array ? update.length : typeof update}`);
    }
    for (let i = 0; i < update.length; i++) {
      if (!Number.isFinite(update[i]!)) throw new SecAggError('bad-update', `update has a non-finite value at index ${i}`, { index: i });
    }
    if (!Number.isSafeInteger(weight) || weight < 1) {
      throw new SecAggError('bad-update', `weight must be a positive integer example count, got ${weight}`);
    }
    this.weightCapped = weight > this.params.maxWeight;
    this.weight = Math.min(weight, this.params.maxWeight);
    this.update = update;
    this.submitted = true;
    return this._stage === 'awaiting-update' ? this.maskedInput() : [];
  }

  handle(type: string, payload: unknown): Outbound[] {
    switch (type) {
      case MSG.setup: return this.onSetup(payload);
      case MSG.keys: return this.onKeys(payload);
      case MSG.shares: return this.onShares(payload);
      case MSG.maskRequest: return this.onMaskRequest(payload);
      case MSG.consistency: return this.onConsistency(payload);
      case MSG.unmask: return this.onUnmask(payload);
      case MSG.abort: {
        this.abortReason = parsePayload(AbortSchema, type, payload).reason;
        this._stage = 'aborted';
        this.dispose();
        return [];
      }
      default: throw new SecAggError('malformed', `unknown SecAgg+ message type "${type}"`);
    }
  }

  /**
   * Zero-fills every secret this round produced (self-mask seed, X25519 secrets, pair secrets, box keys and
   * the neighbours' shares) and drops the update. Called when the round ends here; callers whose round ends
   * otherwise (a deadline, a disconnect) call it themselves. Idempotent.
   */
  dispose(): void {
    this.seed?.fill(0);
    this.seed = undefined;
    for (const h of this.held.values()) { h.seedShare.fill(0); h.keyShare.fill(0); }
    this.held = new Map();
    for (const p of this.peers.values()) { p.boxKey.fill(0); p.maskSecret.fill(0); }
    this.peers = new Map();
    this.cKeys?.secretKey.fill(0);
    this.sKeys?.secretKey.fill(0);
    this.cKeys = undefined;
    this.sKeys = undefined;
    this.update = undefined;
    if (this._stage !== 'done') this._stage = 'aborted';
  }

  private expectStage(type: string, stages: readonly SecAggClientStage[], order: number): void {
    if (stages.includes(this._stage)) return;
    const now = STAGE_ORDER.indexOf(this._stage);
    if (now > order) throw new SecAggError('replay', `${type} arrived again or too late (client is ${this._stage})`);
    throw new SecAggError('wrong-stage', `${type} arrived out of order (client is ${this._stage})`);
  }

  /** The weakest (k, t) this client accepts for n participants. */
  private floor(n: number): { k: number; t: number } {
    let k: number;
    if (this.minNeighbors !== undefined) k = Math.min(this.minNeighbors, n - 1);
    else if (this.minThreshold !== undefined) k = Math.min(this.minThreshold, n - 1);
    else {
      try { k = deriveGraphParams(n, { ...this.floorParams, neighbors: undefined, threshold: undefined }).neighbors; } catch (e) {
        throw new SecAggError('bad-request', `refusing a setup for ${n} participants: ${(e as Error).message}`);
      }
    }
    return { k, t: Math.max(this.minThreshold ?? 2, Math.floor(k / 2) + 1) };
  }

  private onSetup(payload: unknown): Outbound[] {
    this.expectStage(MSG.setup, ['awaiting-setup'], 0);
    const p = parsePayload(SetupSchema, MSG.setup, payload);
    const ids = p.neighbours.map((x) => x.id);
    if (new Set(ids).size !== ids.length || ids.includes(this.id)) {
      throw new SecAggError('bad-request', 'setup lists a neighbour twice or the client itself');
    }
    if (2 * p.threshold <= ids.length || p.threshold > ids.length || p.threshold < 2) {
      throw new SecAggError('bad-request',
        `refusing threshold ${p.threshold} for ${ids.length} neighbours: it must be > k/2, <= k and >= 2`);
    }
    if (ids.length >= p.participants) throw new SecAggError('bad-request', `setup lists ${ids.length} neighbours for ${p.participants} participants`);
    const floor = this.floor(p.participants);
    if (ids.length < floor.k || p.threshold < floor.t) {
      throw new SecAggError('bad-request', `refusing a weaker setup than configured: ${ids.length} neighbours / threshold `
        + `${p.threshold}, while this client requires at least ${floor.k} / ${floor.t} for ${p.participants} participants`);
    }
    try { checkCohortFits(p.participants, this.params.maxWeight); } catch (e) {
      throw new SecAggError('bad-request', (e as Error).message);
    }
    this.fracBits = fractionalBits(p.participants, this.params.clip);
    this.threshold = p.threshold;
    this.neighbourIds = new Set(ids);
    for (const nb of p.neighbours) {
      const key = this.identityOf ? this.identityOf(nb.id) : nb.identityKey;
      if (key) this.neighbourKeys.set(nb.id, key);
    }
    this.cKeys = generateX25519();
    this.sKeys = generateX25519();
    const { federationId, round } = this.params;
    const signature = this.sign(advertiseTranscript(federationId, round, this.id, this.cKeys.publicKey, this.sKeys.publicKey));
    this._stage = 'awaiting-keys';
    return [{ to: 'server', type: MSG.advertise, payload: { cPk: this.cKeys.publicKey, sPk: this.sKeys.publicKey, signature } }];
  }

  private onKeys(payload: unknown): Outbound[] {
    this.expectStage(MSG.keys, ['awaiting-keys'], 1);
    const p = parsePayload(KeysSchema, MSG.keys, payload);
    const { federationId, round } = this.params;
    const peers = new Map<string, Peer>();
    const rejected: string[] = [];
    for (const adv of p.peers) {
      if (!this.neighbourIds.has(adv.id)) throw new SecAggError('misaddressed', `keys lists ${adv.id}, which is not a neighbour of ${this.id}`);
      if (peers.has(adv.id) || rejected.includes(adv.id)) throw new SecAggError('malformed', `keys lists ${adv.id} twice`);
      // A neighbour whose identity key this client does not trust is left out, like one whose signature fails.
      const identityKey = this.neighbourKeys.get(adv.id);
      const ok = identityKey !== undefined && verifySignature(advertiseTranscript(federationId, round, adv.id, adv.cPk, adv.sPk), adv.signature, identityKey);
      const boxShared = ok ? x25519(this.cKeys!.privateKey, adv.cPk) : undefined;
      const maskSecret = ok ? x25519(this.sKeys!.privateKey, adv.sPk) : undefined;
      if (!boxShared || !maskSecret) { rejected.push(adv.id); continue; }
      peers.set(adv.id, { cPk: adv.cPk, sPk: adv.sPk, boxKey: boxKeyFromShared(boxShared), maskSecret });
      boxShared.fill(0);
    }
    this.rejectedPeers.push(...rejected);
    if (peers.size < this.threshold) {
      this.abortReason = `only ${peers.size} usable neighbours for threshold ${this.threshold}`;
      this.dispose();
      throw new SecAggError('bad-request', `${this.abortReason}; leaving the round`, { rejected });
    }
    this.peers = peers;
    this.seed = new Uint8Array(randomBytes(32));
    const seedShares = splitSecret(this.seed, peers.size, this.threshold);
    const keyShares = splitSecret(this.sKeys!.secretKey, peers.size, this.threshold);
    const shares = [...peers.entries()].map(([to, peer], i) => {
      const plain = encodeSharePlaintext({ federationId, round, from: this.id, to, seedShare: seedShares[i]!, keyShare: keyShares[i]! });
      const sealed = { to, ...boxSeal(plain, peer.boxKey) };
      plain.fill(0);
      seedShares[i]!.fill(0);
      keyShares[i]!.fill(0);
      return sealed;
    });
    this._stage = 'awaiting-shares';
    return [{ to: 'server', type: MSG.shareKeys, payload: { shares } }];
  }

  /**
   * Opens each relayed share on its own. A share that does not open, is addressed to someone else or has
   * the wrong size excludes its sender for this pair only; the client goes on with the others.
   */
  private onShares(payload: unknown): Outbound[] {
    this.expectStage(MSG.shares, ['awaiting-shares'], 2);
    const p = parsePayload(SharesSchema, MSG.shares, payload);
    const { federationId, round } = this.params;
    const held = new Map<string, Held>();
    const rejected: Array<{ from: string; reason: string }> = [];
    for (const s of p.shares) {
      const peer = this.peers.get(s.from);
      if (!peer) { rejected.push({ from: s.from, reason: `a share from ${s.from}, with whom ${this.id} exchanged no keys` }); continue; }
      if (held.has(s.from) || rejected.some((r) => r.from === s.from)) {
        held.delete(s.from);
        rejected.push({ from: s.from, reason: `two shares from ${s.from}` });
        continue;
      }
      const plain = boxOpen(s.ciphertext, s.nonce, peer.boxKey);
      const decoded = plain && decodeSharePlaintext(plain);
      plain?.fill(0);
      if (!decoded) { rejected.push({ from: s.from, reason: `the share from ${s.from} does not decrypt` }); continue; }
      if (decoded.to !== this.id || decoded.from !== s.from || decoded.federationId !== federationId || decoded.round !== round) {
        rejected.push({ from: s.from, reason: `the share from ${s.from} is addressed to ${decoded.to} (round ${decoded.round}), not to ${this.id} (round ${round})` });
      } else if (decoded.seedShare.length !== 33 || decoded.keyShare.length !== 33) {
        rejected.push({ from: s.from, reason: `the share from ${s.from} has the wrong size` });
      } else {
        held.set(s.from, { seedShare: decoded.seedShare, keyShare: decoded.keyShare });
        continue;
      }
      decoded.seedShare.fill(0);
      decoded.keyShare.fill(0);
    }
    this.rejectedShares.push(...rejected);
    if (held.size < this.threshold) {
      for (const h of held.values()) { h.seedShare.fill(0); h.keyShare.fill(0); }
      // Fewer than t shares means too few pair masks to hide the update: never send masked input then.
      throw new SecAggError(rejected.length > 0 ? 'bad-ciphertext' : 'bad-request',
        `only ${held.size} usable shares were relayed to ${this.id}; at least ${this.threshold} are needed before it masks its input`
        + (rejected.length > 0 ? ` (${rejected.map((r) => r.reason).join('; ')})` : ''), { rejected });
    }
    this.held = held;
    this._stage = 'awaiting-mask-request';
    return [{ to: 'server', type: MSG.shareCheck, payload: { accepted: [...held.keys()] } }];
  }

  private onMaskRequest(payload: unknown): Outbound[] {
    this.expectStage(MSG.maskRequest, ['awaiting-mask-request'], 3);
    const p = parsePayload(MaskRequestSchema, MSG.maskRequest, payload);
    if (new Set(p.partners).size !== p.partners.length) throw new SecAggError('bad-request', 'mask-request names a partner twice');
    const unknown = p.partners.find((v) => !this.held.has(v));
    if (unknown !== undefined) throw new SecAggError('bad-request', `mask-request names ${unknown}, whose share ${this.id} does not hold`);
    if (p.partners.length < this.threshold) {
      throw new SecAggError('bad-request', `mask-request names ${p.partners.length} partners; at least ${this.threshold} are needed to hide the update`);
    }
    this.partners = [...p.partners];
    if (!this.submitted) { this._stage = 'awaiting-update'; return []; }
    return this.maskedInput();
  }

  private maskedInput(): Outbound[] {
    const { federationId, round, clip, maxWeight } = this.params;
    const { vector, clipped } = quantise(this.update!, this.weight, maxWeight, clip, this.fracBits, this.seededRounding());
    this.clippedCount = clipped;
    const selfKey = selfMaskKey(this.seed!, federationId, round, this.id);
    addMask(vector, selfKey, 1);
    selfKey.fill(0);
    for (const v of this.partners) {
      const key = pairMaskKey(this.peers.get(v)!.maskSecret, federationId, round, this.id, v);
      addMask(vector, key, pairSign(this.id, v));
      key.fill(0);
    }
    this.update = undefined;
    this._stage = 'awaiting-consistency';
    return [{ to: 'server', type: MSG.maskedInput, payload: { vector } }];
  }

  /** The seeded rounding stream, if a seed was given; undefined means the OS CSPRNG. */
  private seededRounding(): RoundingSource | undefined {
    if (!this.roundingSeed) return undefined;
    const key = roundingKey(this.roundingSeed, this.params.federationId, this.params.round, this.id);
    // `out` is all zeros, so adding the stream writes the stream itself.
    return (out) => addMask(out, key, 1);
  }

  /** Signs the one member set it is shown; a second, different set is never signed. */
  private onConsistency(payload: unknown): Outbound[] {
    this.expectStage(MSG.consistency, ['awaiting-consistency'], 5);
    const { members } = parsePayload(ConsistencySchema, MSG.consistency, payload);
    for (let i = 1; i < members.length; i++) {
      if (!(members[i - 1]! < members[i]!)) throw new SecAggError('bad-request', 'consistency members must be sorted and distinct');
    }
    if (!members.includes(this.id)) throw new SecAggError('bad-request', `consistency members omit ${this.id}, which sent masked input`);
    if (members.length < this.threshold) {
      throw new SecAggError('bad-request', `consistency names ${members.length} members; a sum needs at least ${this.threshold}`);
    }
    this.members = [...members];
    this.membersTranscript = consistencyTranscript(this.params.federationId, this.params.round, members);
    const signature = this.sign(this.membersTranscript);
    this._stage = 'awaiting-unmask';
    return [{ to: 'server', type: MSG.consistencySig, payload: { signature } }];
  }

  /**
   * Reveals shares only with t valid signatures from its own neighbours, all members, over the set it
   * signed; then seed shares of partners in the set and key shares of partners outside it, never both.
   */
  private onUnmask(payload: unknown): Outbound[] {
    this.expectStage(MSG.unmask, ['awaiting-unmask'], 6);
    const p = parsePayload(UnmaskSchema, MSG.unmask, payload);
    const members = new Set(this.members);
    const transcript = this.membersTranscript!;
    const valid = new Set<string>();
    for (const s of p.signatures) {
      const key = this.neighbourKeys.get(s.id);
      if (s.id === this.id || !key || !members.has(s.id) || valid.has(s.id)) continue;
      if (verifySignature(transcript, s.signature, key)) valid.add(s.id);
    }
    if (valid.size < this.threshold) {
      throw new SecAggError('bad-request', `unmask carries ${valid.size} valid neighbour signatures over the member set `
        + `${this.id} signed; at least ${this.threshold} are needed before it reveals any share`);
    }
    const out: UnmaskSharesPayload = { seedShares: [], keyShares: [] };
    for (const v of this.partners) {
      const h = this.held.get(v)!;
      if (members.has(v)) out.seedShares.push({ of: v, share: new Uint8Array(h.seedShare) });
      else out.keyShares.push({ of: v, share: new Uint8Array(h.keyShare) });
    }
    this._stage = 'done';
    this.dispose();
    return [{ to: 'server', type: MSG.unmaskShares, payload: out }];
  }
}

const STAGE_ORDER: SecAggClientStage[] = [
  'awaiting-setup', 'awaiting-keys', 'awaiting-shares', 'awaiting-mask-request', 'awaiting-update', 'awaiting-consistency',
  'awaiting-unmask', 'done', 'aborted',
];
