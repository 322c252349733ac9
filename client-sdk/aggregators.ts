import { PlainClientSession } from '../shared/aggregation/plain-session.js';
import type { ClientAggregationSession } from '../shared/aggregation/seam.js';
import { FedProfileError } from '../shared/errors.js';
import type { IdentityKeyPair } from '../shared/secagg/keys.js';
import { SecAggClientSession } from '../shared/secagg/client.js';

export interface ClientAggregatorArgs {
  federationId: string;
  clientId: string;
  round: number;
  /** The `params` the coordinator sent with the fit instruction. */
  params: Record<string, unknown>;
  identity: IdentityKeyPair;
  vectorLength: number;
}

export type ClientAggregatorFactory = (args: ClientAggregatorArgs) => ClientAggregationSession;

/** Client-side aggregators by kind, matching the coordinator's. */
const factories = new Map<string, ClientAggregatorFactory>([
  ['plain', () => new PlainClientSession()],
  ['secagg', (a) => new SecAggClientSession({
    clientId: a.clientId, identity: a.identity,
    params: { ...a.params, federationId: a.federationId, round: a.round, dimension: a.vectorLength },
  })],
]);

export function registerClientAggregator(kind: 'plain' | 'secagg', factory: ClientAggregatorFactory): void {
  factories.set(kind, factory);
}

export function createClientAggregator(kind: 'plain' | 'secagg', args: ClientAggregatorArgs): ClientAggregationSession {
  const f = factories.get(kind);
  if (!f) throw new FedProfileError('BAD_CONFIG', `this client cannot take part in "${kind}" aggregation (not available in this build)`);
  return f(args);
}
