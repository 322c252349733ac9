import type { AggregationOutcome, Outbound } from '../aggregation/seam.js';
import { SecAggClientSession } from './client.js';
import type { RandomIndex } from './graph.js';
import { generateIdentity, type IdentityKeyPair } from './keys.js';
import { MSG, wireSize } from './messages.js';
import type { SecAggParamsInput } from './params.js';
import { SecAggServerSession, type SecAggServerOptions } from './server.js';

/**
 * Where a client disappears: before sending the named message. `after-masked-input` means it never sends
 * its unmask shares (it still contributes: its seed is rebuilt from its neighbours' shares).
 */
export type DropPoint = 'before-advertise' | 'after-advertise' | 'after-share-keys' | 'after-masked-input';

const DROP_BEFORE: Record<DropPoint, string> = {
  'before-advertise': MSG.advertise,
  'after-advertise': MSG.shareKeys,
  'after-share-keys': MSG.maskedInput,
  'after-masked-input': MSG.unmaskShares,
};

export interface InMemoryRunOptions {
  /** Client i's update, or a function producing it when the client needs it (keeps memory O(m) for big runs). */
  updates: readonly Float32Array[] | ((index: number) => Float32Array);
  weights: readonly number[];
  params: SecAggParamsInput;
  clientIds?: readonly string[];
  dropAt?: Readonly<Record<string, DropPoint>>;
  identities?: ReadonlyMap<string, IdentityKeyPair>;
  /**
   * Simulations only: each client's stochastic-rounding seed (`SecAggClientOptions.roundingSeed`); undefined
   * for a client means the OS CSPRNG. Keys and mask seeds are always fresh.
   */
  roundingSeedOf?: (clientId: string) => Uint8Array | undefined;
  /** Simulations only: the server's graph relabelling source (`SecAggServerOptions.graphRandomIndex`). */
  graphRandomIndex?: RandomIndex;
  /**
   * Milliseconds clock for the compute figures. Default: this process's CPU time, which stays meaningful
   * on a machine shared with other work (the sessions are synchronous, so CPU time is their compute).
   */
  clock?: () => number;
  /**
   * Unmask on a worker thread, as the coordinator does. The round then ends after runSecAggInMemory
   * returns: await `server.settled()` and read `server.outcome()`.
   */
  unmaskInWorker?: SecAggServerOptions['unmaskInWorker'];
}

export function cpuClockMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export interface InMemoryRunResult {
  outcome: AggregationOutcome;
  server: SecAggServerSession;
  clients: Map<string, SecAggClientSession>;
  /** Compute time per client (ms), for clients that took part at all. */
  clientMs: Map<string, number>;
  serverMs: number;
  bytesUp: Map<string, number>;
  bytesDown: Map<string, number>;
  /** Messages a session refused (should be zero in an honest run). */
  rejected: string[];
  /** Compute by message type: the server's for the messages it handled, all clients' for theirs. */
  serverMsByType: Map<string, number>;
  clientMsByType: Map<string, number>;
  /** Bytes by message type, both directions, all clients. */
  bytesByType: Map<string, number>;
  /**
   * Longest single server call (begin, handle, dropped, expire), on `clock` (CPU time by default, which on
   * a loaded machine estimates better than wall time how long the call holds an event loop).
   */
  serverMaxStepMs: number;
  /** The message type of that call ('control' for begin, dropped and expire). */
  serverMaxStepType: string;
}

/**
 * Runs one SecAgg+ round in memory with real crypto: the messages of the Aggregator seam are delivered
 * directly. A client's outbound message is handed to the server at once, so masked vectors are folded in
 * one by one and never queue up (the server never holds more than its running sum). When every queued
 * message is delivered and the server still waits, its deadline is expired, as a real transport would.
 */
export function runSecAggInMemory(opts: InMemoryRunOptions): InMemoryRunResult {
  const n = opts.weights.length;
  const ids = opts.clientIds ? [...opts.clientIds] : Array.from({ length: n }, (_, i) => `c${String(i).padStart(5, '0')}`);
  if (ids.length !== n) throw new RangeError('clientIds and weights differ in length');
  const identities = new Map<string, IdentityKeyPair>();
  for (const id of ids) identities.set(id, opts.identities?.get(id) ?? generateIdentity());
  const server = new SecAggServerSession({
    params: opts.params,
    identities: new Map([...identities].map(([id, kp]) => [id, kp.publicKey])),
    ...(opts.graphRandomIndex ? { graphRandomIndex: opts.graphRandomIndex } : {}),
    ...(opts.unmaskInWorker ? { unmaskInWorker: true } : {}),
  });
  const clients = new Map<string, SecAggClientSession>();
  const indexOf = new Map(ids.map((id, i) => [id, i]));
  const clientMs = new Map<string, number>();
  const bytesUp = new Map<string, number>();
  const bytesDown = new Map<string, number>();
  const rejected: string[] = [];
  const gone = new Set<string>();
  const now = opts.clock ?? cpuClockMs;
  let serverMs = 0;
  let serverMaxStepMs = 0;
  let serverMaxStepType = '';
  const serverMsByType = new Map<string, number>();
  const clientMsByType = new Map<string, number>();
  const bytesByType = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, v: number): void => { map.set(key, (map.get(key) ?? 0) + v); };
  const queue: Outbound[] = [];

  const timeServer = (f: () => Outbound[], type = 'control'): void => {
    const t0 = now();
    let out: Outbound[] = [];
    try { out = f(); } catch (e) { rejected.push(`server: ${(e as Error).message}`); }
    const dt = now() - t0;
    if (dt > serverMaxStepMs) { serverMaxStepMs = dt; serverMaxStepType = type; }
    serverMs += dt;
    add(serverMsByType, type, dt);
    queue.push(...out);
  };
  const toServer = (from: string, msg: Outbound): void => {
    const drop = opts.dropAt?.[from];
    if (drop && DROP_BEFORE[drop] === msg.type) {
      gone.add(from);
      timeServer(() => server.dropped(from));
      return;
    }
    const size = wireSize(msg.type, msg.payload);
    bytesUp.set(from, (bytesUp.get(from) ?? 0) + size);
    add(bytesByType, msg.type, size);
    timeServer(() => server.handle(from, msg.type, msg.payload), msg.type);
  };
  const toClient = (msg: Outbound): void => {
    const id = msg.to;
    if (gone.has(id)) return;
    const size = wireSize(msg.type, msg.payload);
    bytesDown.set(id, (bytesDown.get(id) ?? 0) + size);
    add(bytesByType, msg.type, size);
    const i = indexOf.get(id)!;
    // Hand over the update only when masking needs it, so a big cohort never holds n updates at once.
    const update = msg.type === MSG.shares ? (typeof opts.updates === 'function' ? opts.updates(i) : opts.updates[i]!) : undefined;
    let client = clients.get(id);
    const t0 = now();
    if (!client) {
      const roundingSeed = opts.roundingSeedOf?.(id);
      client = new SecAggClientSession({
        clientId: id, identity: identities.get(id)!, params: opts.params, ...(roundingSeed ? { roundingSeed } : {}),
      });
      clients.set(id, client);
    }
    let out: Outbound[] = [];
    try {
      if (update) out.push(...client.submit(update, opts.weights[i]!));
      out.push(...client.handle(msg.type, msg.payload));
    } catch (e) {
      rejected.push(`${id}: ${(e as Error).message}`);
    }
    const dt = now() - t0;
    clientMs.set(id, (clientMs.get(id) ?? 0) + dt);
    add(clientMsByType, msg.type, dt);
    for (const o of out) toServer(id, o);
  };

  timeServer(() => server.begin(ids));
  for (let guard = 0; guard < 16 && server.outcome().status === 'pending'; guard++) {
    while (queue.length > 0) toClient(queue.shift()!);
    if (server.outcome().status === 'pending') timeServer(() => server.expire());
  }
  while (queue.length > 0) toClient(queue.shift()!);
  return {
    outcome: server.outcome(), server, clients, clientMs, serverMs, bytesUp, bytesDown, rejected,
    serverMsByType, clientMsByType, bytesByType, serverMaxStepMs, serverMaxStepType,
  };
}
