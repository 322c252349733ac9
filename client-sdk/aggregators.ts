import { PlainClientSession } from '../shared/aggregation/plain-session.js';
import type { ClientAggregationSession } from '../shared/aggregation/seam.js';
import { FedProfileError } from '../shared/errors.js';
import type { IdentityKeyPair } from '../shared/secagg/keys.js';
import { SecAggClientSession } from '../shared/secagg/client.js';
import { MSG, SetupSchema } from '../shared/secagg/messages.js';
import { privatizingSession, takeClientPrivacy } from '../shared/privacy/client-transform.js';
import { compressingSession, compressorFor, exactPartOf, takeUploadCompression } from '../shared/compression/upload.js';
import type { IdentityPins } from './identity-pins.js';

export interface ClientAggregatorArgs {
  federationId: string;
  clientId: string;
  round: number;
  /** The `params` the coordinator sent with the fit instruction. */
  params: Record<string, unknown>;
  identity: IdentityKeyPair;
  vectorLength: number;
  /** Local SecAgg+ policy, which the coordinator's params cannot weaken. */
  secagg?: SecAggLocalPolicy;
  /** Standard normal source for DP noise shares; default: the OS CSPRNG (simulations pass a seeded one). */
  normal?: () => number;
}

export interface SecAggLocalPolicy {
  /** Neighbours' identity keys this client trusts (a trusted directory, or trust-on-first-use pins). */
  pins?: IdentityPins;
  /** Fewest neighbours k and lowest threshold t this client accepts (default: derived from n). */
  minNeighbors?: number;
  minThreshold?: number;
}

/**
 * A SecAgg+ client whose neighbours' identity keys come from the pins, not from the coordinator: the keys
 * in the setup message are checked against them (a changed key refuses the round) before the session sees it.
 */
function pinnedSecAggSession(a: ClientAggregatorArgs, pins: IdentityPins): ClientAggregationSession {
  let lookup: (id: string) => Uint8Array | undefined = () => undefined;
  const inner = new SecAggClientSession({
    clientId: a.clientId, identity: a.identity, identityOf: (id) => lookup(id),
    params: { ...a.params, federationId: a.federationId, round: a.round, dimension: a.vectorLength },
    minNeighbors: a.secagg?.minNeighbors, minThreshold: a.secagg?.minThreshold, paramsFromServer: true,
  });
  return {
    submit: (update, weight) => inner.submit(update, weight),
    handle: (type, payload) => {
      if (type === MSG.setup) {
        const p = SetupSchema.safeParse(payload);
        if (p.success) lookup = pins.admit(p.data.neighbours);
      }
      return inner.handle(type, payload);
    },
    dispose: () => inner.dispose(),
  };
}

export type ClientAggregatorFactory = (args: ClientAggregatorArgs) => ClientAggregationSession;

/** Client-side aggregators by kind, matching the coordinator's. */
const factories = new Map<string, ClientAggregatorFactory>([
  ['plain', () => new PlainClientSession()],
  ['secagg', (a) => (a.secagg?.pins ? pinnedSecAggSession(a, a.secagg.pins) : new SecAggClientSession({
    clientId: a.clientId, identity: a.identity,
    params: { ...a.params, federationId: a.federationId, round: a.round, dimension: a.vectorLength },
    minNeighbors: a.secagg?.minNeighbors, minThreshold: a.secagg?.minThreshold, paramsFromServer: true,
  }))],
]);

export function registerClientAggregator(kind: 'plain' | 'secagg', factory: ClientAggregatorFactory): void {
  factories.set(kind, factory);
}

/**
 * The round's session; when the coordinator asks for clipping and noise (`params.privacy`: DP-FedAvg, or
 * norm bounding under SecAgg) the update is clipped and noised here, before any aggregator (or mask) sees it;
 * with `params.compression` (plain mode) it is then sent encoded, with this client's error feedback.
 */
export function createClientAggregator(kind: 'plain' | 'secagg', args: ClientAggregatorArgs): ClientAggregationSession {
  const f = factories.get(kind);
  if (!f) throw new FedProfileError('BAD_CONFIG', `this client cannot take part in "${kind}" aggregation (not available in this build)`);
  return withClientTransforms(kind, args, (rest) => f({ ...args, params: rest }));
}

/**
 * Builds the round's session with `create` (given the params without the client-side settings) and puts
 * the client's own transforms around it: clipping and noise first, then the upload encoding, so
 * compression only post-processes what DP released.
 */
export function withClientTransforms(
  kind: 'plain' | 'secagg', args: ClientAggregatorArgs, create: (params: Record<string, unknown>) => ClientAggregationSession,
): ClientAggregationSession {
  const { privacy, rest: afterPrivacy } = takeClientPrivacy(args.params);
  const { compression, rest } = takeUploadCompression(afterPrivacy);
  if (compression && kind !== 'plain') throw new FedProfileError('BAD_CONFIG', `upload compression applies to plain aggregation only, not "${kind}"`);
  let session = create(rest);
  if (compression) {
    const exact = exactPartOf(compression, args.vectorLength);
    const lossyLength = args.vectorLength - (exact?.exactCount ?? 0);
    session = compressingSession(session, compressorFor(args.identity, args.federationId, compression, lossyLength), exact);
  }
  return privacy ? privatizingSession(session, privacy, args.normal) : session;
}
