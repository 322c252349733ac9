import type { Server as HttpServer } from 'node:http';
import type { Logger } from 'pino';
import { Server as IoServer, type Socket } from 'socket.io';
import { FedProfileError } from '../shared/errors.js';
import {
  ClientMessageSchema, HandshakeSchema, authChallenge, describeZodError, type ClientMessage, type ServerMessage,
} from '../shared/protocol/messages.js';
import { frameSocket, type FramedPeer, type ReadFlow } from '../shared/protocol/transport.js';
import { MAX_HTTP_BUFFER_BYTES, PROTOCOL_VERSION } from '../shared/protocol/version.js';
import { verifySignature } from '../shared/secagg/keys.js';
import { LastSeen } from './last-seen.js';
import type { CoordinatorMetrics } from './metrics.js';
import type { FederationRuntime } from './runtime/federation-runtime.js';
import { aggregationWorker } from './runtime/aggregation-worker.js';
import type { CoordinatorStore } from './store/store.js';

/** Handshake timestamps further than this from the server clock are refused (replayed handshakes). */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

interface Peer { socket: Socket; framed: FramedPeer; federationId: string; tokenId: string }

function authError(code: FedProfileError['code'], message: string): Error {
  const e = new Error(`${code}: ${message}`) as Error & { data: { code: string; message: string } };
  e.data = { code, message };
  return e;
}

/**
 * The socket.io side of the coordinator: authenticates clients with enrolment tokens, frames and validates
 * every message, and routes them to their federation's runtime. Rejections are answered and counted; the
 * socket stays open.
 */
export class SocketGateway {
  readonly io: IoServer;
  private readonly peers = new Map<string, Peer>();
  /** The current model of each federation, encoded and chunked once for all the clients that ask. */
  readonly lastSeen: LastSeen;

  constructor(
    http: HttpServer,
    private readonly deps: {
      store: CoordinatorStore;
      metrics: CoordinatorMetrics;
      logger: Logger;
      runtime(federationId: string): FederationRuntime | undefined;
    },
  ) {
    this.lastSeen = new LastSeen((id, at) => this.storeWrite('client.touch', () => deps.store.touchClient(id, at)));
    this.io = new IoServer(http, { maxHttpBufferSize: MAX_HTTP_BUFFER_BYTES, serveClient: false, cors: { origin: false } });
    this.io.use((socket, next) => {
      try {
        this.authenticate(socket);
        next();
      } catch (e) {
        const err = e instanceof FedProfileError ? e : new FedProfileError('INTERNAL', String(e));
        this.deps.metrics.authFailures.inc({ reason: err.code.toLowerCase() });
        this.deps.logger.warn({ code: err.code, address: socket.handshake.address }, `handshake refused: ${err.message}`);
        next(authError(err.code, err.message));
      }
    });
    this.io.on('connection', (socket) => {
      try {
        this.onConnection(socket);
      } catch (e) {
        // A bug in setting up one connection must cost that connection only, never the process.
        this.deps.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'connection setup failed; disconnecting it');
        socket.disconnect(true);
      }
    });
  }

  /** Sends to a connected client; returns false when it is not connected. */
  send(clientId: string, message: ServerMessage): boolean {
    const peer = this.peers.get(clientId);
    if (!peer) return false;
    const bytes = peer.framed.send(message);
    this.deps.metrics.bytesOut.inc(bytes);
    return true;
  }

  isOnline(clientId: string): boolean { return this.peers.has(clientId); }

  /** Disconnects every live session enrolled with this token (on revocation); returns how many. */
  disconnectToken(tokenId: string): number {
    let n = 0;
    for (const peer of [...this.peers.values()]) {
      if (peer.tokenId !== tokenId) continue;
      this.deps.logger.info({ tokenId }, 'token revoked: disconnecting its live session');
      peer.socket.disconnect(true);
      n++;
    }
    return n;
  }

  onlineIn(federationId: string): string[] {
    return [...this.peers].filter(([, p]) => p.federationId === federationId).map(([id]) => id);
  }

  /** Disconnects every client of a federation (it was deleted). */
  disconnectFederation(federationId: string): void {
    for (const p of [...this.peers.values()]) if (p.federationId === federationId) p.socket.disconnect(true);
  }

  async close(): Promise<void> {
    this.io.disconnectSockets(true);
    await new Promise<void>((resolve) => this.io.close(() => resolve()));
  }

  private authenticate(socket: Socket): void {
    const parsed = HandshakeSchema.safeParse(socket.handshake.auth);
    if (!parsed.success) throw new FedProfileError('BAD_INPUT', `malformed handshake: ${describeZodError(parsed.error)}`);
    const h = parsed.data;
    if (h.protocolVersion !== PROTOCOL_VERSION) {
      throw new FedProfileError('PROTOCOL', `protocol version ${h.protocolVersion} is not supported; this coordinator speaks ${PROTOCOL_VERSION} (upgrade the client)`);
    }
    if (Math.abs(Date.now() - h.signedAt) > MAX_CLOCK_SKEW_MS) {
      throw new FedProfileError('UNAUTHORIZED', 'handshake timestamp is more than 5 minutes off the coordinator clock; fix the client clock');
    }
    const token = this.deps.store.findToken(h.token);
    if (!token) throw new FedProfileError('UNAUTHORIZED', 'unknown enrolment token; ask the operator for a valid one');
    if (token.revoked) throw new FedProfileError('FORBIDDEN', 'this enrolment token was revoked');
    const pk = Buffer.from(h.identityPublicKey, 'base64');
    if (!verifySignature(Buffer.from(authChallenge(engineSessionId(socket), h.signedAt)), Buffer.from(h.signature, 'base64'), pk)) {
      throw new FedProfileError('UNAUTHORIZED', 'handshake signature does not verify with the presented identity key for this connection (a replayed handshake never does)');
    }
    const runtime = this.deps.runtime(token.federationId);
    if (!runtime) throw new FedProfileError('NOT_FOUND', `federation ${token.federationId} is not loaded on this coordinator`);
    const client = this.deps.store.enrolClient(token.id, h.identityPublicKey, h.name);
    socket.data.clientId = client.id;
    socket.data.federationId = token.federationId;
    socket.data.tokenId = token.id;
  }

  private onConnection(socket: Socket): void {
    const clientId = socket.data.clientId as string;
    const federationId = socket.data.federationId as string;
    const runtime = this.deps.runtime(federationId)!;
    const { metrics, logger } = this.deps;
    const maxMessageBytes = runtime.model.manifest.totalSize * 8 + (1 << 20);
    const reject = (err: FedProfileError, reason: string): void => {
      metrics.rejected.inc({ reason });
      logger.warn({ clientId, code: err.code, reason }, `message rejected: ${err.message}`);
      const ref = typeof err.details?.ref === 'string' ? err.details.ref : undefined;
      this.send(clientId, { type: 'error', code: err.code, message: err.message, ...(ref ? { ref } : {}) });
    };
    const framed = frameSocket(socket, {
      maxMessageBytes,
      // One maximum-size message in flight at a time, and decode work refilled at about one maximum-size
      // message per second: an honest client sends one update per round, a flood is refused unparsed.
      maxBytesInFlight: maxMessageBytes,
      decodeBudget: { ratePerSecond: Math.max(maxMessageBytes, 4 << 20), burst: 2 * maxMessageBytes + (1 << 20) },
      serialiseLarge: true,
      flow: readFlowOf(socket),
      digest: (bytes) => aggregationWorker.sha256(bytes),
      onReject: (err, bytes) => {
        metrics.bytesIn.inc(bytes);
        reject(err, err.code === 'PAYLOAD_TOO_LARGE' ? 'oversize' : err.code === 'INTEGRITY' ? 'integrity' : 'malformed');
      },
      onMessage: (raw, bytes) => {
        metrics.bytesIn.inc(bytes);
        this.lastSeen.seen(clientId);
        const parsed = ClientMessageSchema.safeParse(raw);
        if (!parsed.success) {
          reject(new FedProfileError('PROTOCOL', `invalid message: ${describeZodError(parsed.error)}`), 'malformed');
          return;
        }
        try {
          this.dispatch(clientId, runtime, parsed.data);
        } catch (e) {
          reject(e instanceof FedProfileError ? e : new FedProfileError('INTERNAL', String(e)), 'internal');
        }
      },
    });
    const previous = this.peers.get(clientId);
    if (previous) {
      // The same identity reconnected (e.g. after a network change): the old socket is stale.
      this.peers.delete(clientId);
      previous.socket.disconnect(true);
      runtime.event({ type: 'client-offline', clientId });
    }
    this.peers.set(clientId, { socket, framed, federationId, tokenId: socket.data.tokenId as string });
    this.lastSeen.seen(clientId);
    // Engine.io emits 'heartbeat' when the client answers a ping (every pingInterval), so an idle client stays "seen".
    socket.conn.on('heartbeat', () => { if (this.peers.get(clientId)?.socket === socket) this.lastSeen.seen(clientId); });
    metrics.clientsOnline.inc({ federation: federationId });
    this.storeWrite('client.connect', () => this.deps.store.audit(clientId, 'client.connect', federationId));
    this.send(clientId, {
      type: 'welcome', protocolVersion: PROTOCOL_VERSION, clientId, federationId,
      federationStatus: runtime.snapshot().status, modelHash: runtime.model.hash, modelConfig: runtime.config.model,
    });
    runtime.event({ type: 'client-online', clientId });
    // After the messages this socket delivered before it closed: an update sent just before a disconnect counts.
    socket.on('disconnect', () => framed.afterReceived(() => {
      if (this.peers.get(clientId)?.socket !== socket) return;
      this.peers.delete(clientId);
      metrics.clientsOnline.dec({ federation: federationId });
      this.lastSeen.seen(clientId);
      this.lastSeen.gone(clientId);
      runtime.event({ type: 'client-offline', clientId });
    }));
  }

  /** A bookkeeping write that may fail (disk full, SQLite error) without failing the connection. */
  private storeWrite(what: string, write: () => void): void {
    try {
      write();
    } catch (e) {
      this.deps.logger.error({ what, err: e instanceof Error ? e.message : String(e) }, 'store write failed; carrying on');
    }
  }

  private dispatch(clientId: string, runtime: FederationRuntime, m: ClientMessage): void {
    switch (m.type) {
      case 'model-get': {
        const g = runtime.model;
        if (g.hash !== m.hash) {
          // `ref` names the hash, so the client can stop waiting for it.
          throw new FedProfileError('NOT_FOUND', `model ${m.hash.slice(0, 12)}… is not the current global model (${g.hash.slice(0, 12)}…)`, { ref: m.hash });
        }
        // Prepared once per version on the aggregation worker; the client waits for the model by its hash.
        runtime.modelMessage().then((prepared) => {
          const peer = this.peers.get(clientId);
          if (peer) this.deps.metrics.bytesOut.inc(peer.framed.sendPrepared(prepared));
        }, (e: unknown) => {
          this.deps.logger.error({ clientId, err: e instanceof Error ? e.message : String(e) }, 'could not prepare the model message');
          this.send(clientId, { type: 'error', code: 'INTERNAL', message: 'the model could not be prepared; ask again', ref: g.hash });
        });
        break;
      }
      case 'agg':
        runtime.event({ type: 'agg-message', from: clientId, round: m.round, aggType: m.aggType, payload: m.payload });
        break;
      case 'fit-meta':
        runtime.event({ type: 'fit-meta', from: clientId, round: m.round, numExamples: m.numExamples, metrics: m.metrics, trainMs: m.trainMs });
        break;
      case 'fit-failed':
        runtime.event({ type: 'fit-failed', from: clientId, round: m.round, reason: m.reason });
        break;
      case 'eval-result':
        runtime.event({ type: 'eval-result', from: clientId, round: m.round, numExamples: m.numExamples, metrics: m.metrics });
        break;
    }
  }
}

/**
 * Pause/resume of the WebSocket under a socket.io connection (ws's own, which respects its receiver's
 * back-pressure), looked up at each call: the transport changes when a polling connection upgrades, and
 * a polling request has nothing to pause.
 */
function readFlowOf(socket: Socket): ReadFlow {
  const ws = (): { pause(): void; resume(): void } | undefined => {
    const w = (socket.conn as unknown as { transport?: { socket?: { pause?: unknown; resume?: unknown } } }).transport?.socket;
    return w && typeof w.pause === 'function' && typeof w.resume === 'function' ? (w as { pause(): void; resume(): void }) : undefined;
  };
  return { pause: () => ws()?.pause(), resume: () => ws()?.resume() };
}

/** The engine.io session id: random, chosen by the server per connection, known to the client before it signs. */
function engineSessionId(socket: Socket): string {
  const id = (socket.conn as unknown as { id?: unknown }).id;
  if (typeof id !== 'string' || id.length === 0) throw new FedProfileError('INTERNAL', 'connection has no session id');
  return id;
}
