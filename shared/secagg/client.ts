import type { KeyObject } from 'node:crypto';
import type { ClientAggregationSession, Outbound } from '../aggregation/seam.js';
import { SecAggError } from './errors.js';
import {
  boxKeyFromShared, boxOpen, boxSeal, generateX25519, identitySigner, verifySignature, x25519,
  type IdentityKeyPair, type X25519KeyPair,
} from './keys.js';
import {
  AbortSchema, KeysSchema, MSG, SetupSchema, SharesSchema, UnmaskSchema, parsePayload, type UnmaskSharesPayload,
} from './messages.js';
import { parseSecAggParams, type SecAggParams, type SecAggParamsInput } from './params.js';
import { addMask, pairMaskKey, pairSign, roundingKey, selfMaskKey } from './prg.js';
import { checkCohortFits, fractionalBits, quantise, type RoundingSource } from './quantise.js';
import { splitSecret } from './shamir.js';
import { advertiseTranscript, decodeSharePlaintext, encodeSharePlaintext } from './transcript.js';
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
}

export type SecAggClientStage =
  | 'awaiting-setup' | 'awaiting-keys' | 'awaiting-shares' | 'awaiting-update' | 'awaiting-unmask' | 'done' | 'aborted';

interface Peer { cPk: Uint8Array; sPk: Uint8Array; boxKey: Uint8Array; maskSecret: Uint8Array }

export class SecAggClientSession implements ClientAggregationSession {
  private readonly id: string;
  private readonly params: SecAggParams;
  private readonly sign: (m: Uint8Array) => Uint8Array;
  private readonly identityOf?: (clientId: string) => Uint8Array | undefined;
  private readonly roundingSeed?: Uint8Array;
  private _stage: SecAggClientStage = 'awaiting-setup';
  private threshold = 0;
  private fracBits = 0;
  private neighbourKeys = new Map<string, Uint8Array>();
  private cKeys?: X25519KeyPair;
  private sKeys?: X25519KeyPair;
  private cPriv?: KeyObject;
  private sPriv?: KeyObject;
  private seed?: Uint8Array;
  private peers = new Map<string, Peer>();
  private held = new Map<string, { seedShare: Uint8Array; keyShare: Uint8Array }>();
  private update?: Float32Array;
  private weight = 0;
  private submitted = false;
  /** Neighbours whose advertisement failed its signature check (excluded from the round). */
  readonly rejectedPeers: string[] = [];
  /** Coordinates of this client's update that were clipped, once masked. */
  clippedCount = 0;
  weightCapped = false;
  abortReason?: string;

  constructor(opts: SecAggClientOptions) {
    this.id = opts.clientId;
    this.params = parseSecAggParams(opts.params);
    this.sign = identitySigner(opts.identity);
    this.identityOf = opts.identityOf;
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
      case MSG.unmask: return this.onUnmask(payload);
      case MSG.abort: {
        this.abortReason = parsePayload(AbortSchema, type, payload).reason;
        this._stage = 'aborted';
        this.forgetSecrets();
        return [];
      }
      default: throw new SecAggError('malformed', `unknown SecAgg+ message type "${type}"`);
    }
  }

  private expectStage(type: string, stage: SecAggClientStage, order: number): void {
    if (this._stage === stage) return;
    const now = STAGE_ORDER.indexOf(this._stage);
    if (now > order) throw new SecAggError('replay', `${type} arrived again or too late (client is ${this._stage})`);
    throw new SecAggError('wrong-stage', `${type} arrived out of order (client is ${this._stage})`);
  }

  private onSetup(payload: unknown): Outbound[] {
    this.expectStage(MSG.setup, 'awaiting-setup', 0);
    const p = parsePayload(SetupSchema, MSG.setup, payload);
    const ids = p.neighbours.map((x) => x.id);
    if (new Set(ids).size !== ids.length || ids.includes(this.id)) {
      throw new SecAggError('bad-request', 'setup lists a neighbour twice or the client itself');
    }
    if (2 * p.threshold <= ids.length || p.threshold > ids.length || p.threshold < 2) {
      throw new SecAggError('bad-request',
        `refusing threshold ${p.threshold} for ${ids.length} neighbours: it must be > k/2, <= k and >= 2`);
    }
    checkCohortFits(p.participants, this.params.maxWeight);
    this.fracBits = fractionalBits(p.participants, this.params.clip);
    this.threshold = p.threshold;
    for (const nb of p.neighbours) {
      const key = this.identityOf ? this.identityOf(nb.id) : nb.identityKey;
      if (key) this.neighbourKeys.set(nb.id, key);
    }
    this.cKeys = generateX25519();
    this.sKeys = generateX25519();
    this.cPriv = this.cKeys.privateKey;
    this.sPriv = this.sKeys.privateKey;
    const { federationId, round } = this.params;
    const signature = this.sign(advertiseTranscript(federationId, round, this.id, this.cKeys.publicKey, this.sKeys.publicKey));
    this._stage = 'awaiting-keys';
    return [{ to: 'server', type: MSG.advertise, payload: { cPk: this.cKeys.publicKey, sPk: this.sKeys.publicKey, signature } }];
  }

  private onKeys(payload: unknown): Outbound[] {
    this.expectStage(MSG.keys, 'awaiting-keys', 1);
    const p = parsePayload(KeysSchema, MSG.keys, payload);
    const { federationId, round } = this.params;
    const peers = new Map<string, Peer>();
    const rejected: string[] = [];
    for (const adv of p.peers) {
      const identityKey = this.neighbourKeys.get(adv.id);
      if (!identityKey) throw new SecAggError('misaddressed', `keys lists ${adv.id}, which is not a neighbour of ${this.id}`);
      if (peers.has(adv.id)) throw new SecAggError('malformed', `keys lists ${adv.id} twice`);
      const ok = verifySignature(advertiseTranscript(federationId, round, adv.id, adv.cPk, adv.sPk), adv.signature, identityKey);
      const boxShared = ok ? x25519(this.cPriv!, adv.cPk) : undefined;
      const maskSecret = ok ? x25519(this.sPriv!, adv.sPk) : undefined;
      if (!boxShared || !maskSecret) { rejected.push(adv.id); continue; }
      peers.set(adv.id, { cPk: adv.cPk, sPk: adv.sPk, boxKey: boxKeyFromShared(boxShared), maskSecret });
    }
    this.rejectedPeers.push(...rejected);
    if (peers.size < this.threshold) {
      this._stage = 'aborted';
      this.abortReason = `only ${peers.size} usable neighbours for threshold ${this.threshold}`;
      throw new SecAggError('bad-request', `${this.abortReason}; leaving the round`, { rejected });
    }
    this.peers = peers;
    this.seed = new Uint8Array(randomBytes(32));
    const seedShares = splitSecret(this.seed, peers.size, this.threshold);
    const keyShares = splitSecret(this.sKeys!.secretKey, peers.size, this.threshold);
    const shares = [...peers.entries()].map(([to, peer], i) => {
      const plain = encodeSharePlaintext({ federationId, round, from: this.id, to, seedShare: seedShares[i]!, keyShare: keyShares[i]! });
      return { to, ...boxSeal(plain, peer.boxKey) };
    });
    this._stage = 'awaiting-shares';
    return [{ to: 'server', type: MSG.shareKeys, payload: { shares } }];
  }

  private onShares(payload: unknown): Outbound[] {
    this.expectStage(MSG.shares, 'awaiting-shares', 2);
    const p = parsePayload(SharesSchema, MSG.shares, payload);
    const { federationId, round } = this.params;
    const held = new Map<string, { seedShare: Uint8Array; keyShare: Uint8Array }>();
    // All-or-nothing: one bad share leaves the client waiting, so a corrected relay can still be accepted.
    for (const s of p.shares) {
      const peer = this.peers.get(s.from);
      if (!peer) throw new SecAggError('misaddressed', `a share from ${s.from}, with whom ${this.id} exchanged no keys`);
      if (held.has(s.from)) throw new SecAggError('malformed', `two shares from ${s.from}`);
      const plain = boxOpen(s.ciphertext, s.nonce, peer.boxKey);
      const decoded = plain && decodeSharePlaintext(plain);
      if (!decoded) throw new SecAggError('bad-ciphertext', `the share from ${s.from} does not decrypt`);
      if (decoded.to !== this.id || decoded.from !== s.from || decoded.federationId !== federationId || decoded.round !== round) {
        throw new SecAggError('misaddressed',
          `the share from ${s.from} is addressed to ${decoded.to} (round ${decoded.round}), not to ${this.id} (round ${round})`);
      }
      if (decoded.seedShare.length !== 33 || decoded.keyShare.length !== 33) {
        throw new SecAggError('malformed', `the share from ${s.from} has the wrong size`);
      }
      held.set(s.from, { seedShare: decoded.seedShare, keyShare: decoded.keyShare });
    }
    this.held = held;
    if (!this.submitted) { this._stage = 'awaiting-update'; return []; }
    return this.maskedInput();
  }

  private maskedInput(): Outbound[] {
    const { federationId, round, clip, maxWeight } = this.params;
    const { vector, clipped } = quantise(this.update!, this.weight, maxWeight, clip, this.fracBits, this.seededRounding());
    this.clippedCount = clipped;
    addMask(vector, selfMaskKey(this.seed!, federationId, round, this.id), 1);
    // Pair masks only with neighbours that both received this client's shares and sent theirs back.
    for (const v of this.held.keys()) {
      addMask(vector, pairMaskKey(this.peers.get(v)!.maskSecret, federationId, round, this.id, v), pairSign(this.id, v));
    }
    this.update = undefined;
    this._stage = 'awaiting-unmask';
    return [{ to: 'server', type: MSG.maskedInput, payload: { vector } }];
  }

  /** The seeded rounding stream, if a seed was given; undefined means the OS CSPRNG. */
  private seededRounding(): RoundingSource | undefined {
    if (!this.roundingSeed) return undefined;
    const key = roundingKey(this.roundingSeed, this.params.federationId, this.params.round, this.id);
    // `out` is all zeros, so adding the stream writes the stream itself.
    return (out) => addMask(out, key, 1);
  }

  private onUnmask(payload: unknown): Outbound[] {
    this.expectStage(MSG.unmask, 'awaiting-unmask', 4);
    const p = parsePayload(UnmaskSchema, MSG.unmask, payload);
    const seen = new Set<string>();
    for (const v of [...p.survivors, ...p.dropped]) {
      if (seen.has(v)) throw new SecAggError('bad-request', `unmask names ${v} twice: revealing both of its shares is refused`);
      if (!this.held.has(v)) throw new SecAggError('bad-request', `unmask names ${v}, of whom ${this.id} holds no shares`);
      seen.add(v);
    }
    const out: UnmaskSharesPayload = {
      seedShares: p.survivors.map((of) => ({ of, share: this.held.get(of)!.seedShare })),
      keyShares: p.dropped.map((of) => ({ of, share: this.held.get(of)!.keyShare })),
    };
    this._stage = 'done';
    this.forgetSecrets();
    return [{ to: 'server', type: MSG.unmaskShares, payload: out }];
  }

  private forgetSecrets(): void {
    this.held = new Map();
    this.seed = undefined;
    this.update = undefined;
  }
}

const STAGE_ORDER: SecAggClientStage[] = ['awaiting-setup', 'awaiting-keys', 'awaiting-shares', 'awaiting-update', 'awaiting-unmask', 'done', 'aborted'];

