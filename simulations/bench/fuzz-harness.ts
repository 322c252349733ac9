/**
 * A black-box fuzzer for a running coordinator: enrolled attacker sockets send every class of bad message
 * (codec garbage, reference amplification, poisoned updates, bad chunk frames, stale or unknown messages),
 * bad handshakes try to log in, bad HTTP requests hit the API, while honest clients keep running rounds.
 * Used by the fuzz test (a small run in `npm test`) and by `npm run bench:fuzz` (a large one).
 */
import { request } from 'node:http';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { io, type Socket } from 'socket.io-client';
import { FederatedClient } from '../../client-sdk/federated-client.js';
import { restCall } from '../../coordinator/rest-client.js';
import { encodeMessage } from '../../shared/protocol/codec.js';
import { sha256Hex, splitIntoFrames } from '../../shared/protocol/chunks.js';
import { authChallenge, type ServerMessage } from '../../shared/protocol/messages.js';
import { frameSocket, type FramedPeer } from '../../shared/protocol/transport.js';
import { CHUNK_EVENT, MESSAGE_EVENT, PROTOCOL_VERSION } from '../../shared/protocol/version.js';
import { generateIdentity, identitySigner } from '../../shared/secagg/keys.js';
import type { LocalTrainer } from '../../shared/training/types.js';
import { parameterCount } from '../../coordinator/model-limits.js';

/** The federation's model: small, so the fuzz measures the coordinator's handling of input, not training. */
export const FUZZ_MODEL = {
  itemVocab: 8, categoryVocab: 3, priceBuckets: 0, gapBuckets: 0, textVocab: 0, textTokens: 0, useActions: false,
  maxLen: 4, dModel: 4, layers: 1, heads: 1, ffDim: 4, dropout: 0, numTiers: 2,
};
const DIM = parameterCount(FUZZ_MODEL);

export const SOCKET_CLASSES = [
  'random-bytes', 'not-binary', 'bad-magic', 'truncated', 'json-garbage', 'amplification', 'overlapping-refs', 'deep-nesting',
  'proto-key', 'schema-invalid', 'poisoned-update', 'stale-message', 'unknown-model', 'chunk-malformed', 'chunk-oversize',
  'chunk-unknown-transfer', 'chunk-bad-sha',
] as const;
export const HTTP_CLASSES = ['bad-percent-path', 'bad-content-encoding', 'deep-config', 'invalid-secagg', 'huge-model', 'no-auth', 'junk-body'] as const;
export const HANDSHAKE_CLASSES = ['garbage-auth', 'old-protocol', 'bad-signature', 'replayed-handshake'] as const;

export interface FuzzOptions {
  url: string;
  adminToken: string;
  /** Total fuzz messages (socket + HTTP + handshakes). */
  messages: number;
  seed?: number;
  attackers?: number;
  honestClients?: number;
  workDir: string;
}

export interface FuzzReport {
  messages: number;
  socketMessages: number;
  httpRequests: number;
  handshakes: number;
  byClass: Record<string, number>;
  /** Socket messages answered with an error reply (each bad message should get exactly one). */
  answered: number;
  errorCodes: Record<string, number>;
  http5xx: number;
  httpStatuses: Record<string, number>;
  handshakesAccepted: number;
  honestRoundsCompleted: number;
  honestModelFinite: boolean;
  wallMs: number;
}

interface Attacker { socket: Socket; peer: FramedPeer; errors: ServerMessage[]; fits: number[]; handshake: Record<string, unknown> }

const api = (base: string, admin: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> =>
  restCall(base, method, path, { body, token: admin });

function rawHttp(base: string, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<number> {
  const u = new URL(base);
  return new Promise((resolve) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

function signedAuth(token: string, sessionId: string, id = generateIdentity()): Record<string, unknown> {
  const signedAt = Date.now();
  return {
    protocolVersion: PROTOCOL_VERSION, token, signedAt, identityPublicKey: Buffer.from(id.publicKey).toString('base64'),
    signature: Buffer.from(identitySigner(id)(Buffer.from(authChallenge(sessionId, signedAt)))).toString('base64'),
  };
}

async function connectAttacker(url: string, token: string): Promise<Attacker> {
  const id = generateIdentity();
  let handshake: Record<string, unknown> = {};
  const socket: Socket = io(url, {
    transports: ['websocket'], reconnection: false,
    auth: (cb) => { handshake = signedAuth(token, socket.io.engine.id, id); cb(handshake); },
  });
  const a: Attacker = { socket, peer: undefined as unknown as FramedPeer, errors: [], fits: [], handshake };
  a.peer = frameSocket(socket, {
    maxMessageBytes: 1 << 26,
    onMessage: (m) => {
      const msg = m as ServerMessage;
      if (msg.type === 'error') a.errors.push(msg);
      else if (msg.type === 'fit') a.fits.push(msg.round);
    },
    onReject: () => undefined,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (e) => reject(e));
  });
  a.handshake = handshake;
  return a;
}

/** Honest clients: a tiny deterministic step towards zero (a real, finite, bounded delta). */
function honestTrainer(index: number): LocalTrainer {
  return {
    fit: async (global) => ({ delta: global.map((v) => -0.01 * v), numExamples: 10 + index, metrics: { loss: 1 } }),
    evaluate: async () => ({ numExamples: 1, metrics: {} }),
    close: async () => {},
  };
}

/** FPM1 bytes with `tree` as the JSON part and `blob` as the binary area (for hand-crafted attacks). */
function handBuilt(tree: unknown, blob: Uint8Array, jsonText?: string): Uint8Array {
  const json = new TextEncoder().encode(jsonText ?? JSON.stringify(tree));
  const head = (8 + json.byteLength + 7) & ~7;
  const out = new Uint8Array(head + blob.byteLength);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0x314d5046, true);
  dv.setUint32(4, json.byteLength, true);
  out.set(json, 8);
  out.set(blob, head);
  return out;
}

type Rng = () => number;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
const randomBytes = (rng: Rng, n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(rng() * 256));

/** One bad socket message of a class; every one of them must be answered with an error. */
function sendSocketAttack(a: Attacker, cls: (typeof SOCKET_CLASSES)[number], rng: Rng, round: number): void {
  const s = a.socket;
  switch (cls) {
    case 'random-bytes': s.emit(MESSAGE_EVENT, randomBytes(rng, 1 + Math.floor(rng() * 4096))); break;
    case 'not-binary': s.emit(MESSAGE_EVENT, pick(rng, ['text', 42, { type: 'agg' }, [1, 2, 3], true])); break;
    case 'bad-magic': { const b = encodeMessage({ type: 'model-get', hash: 'a'.repeat(64) }); b[0] = 0; s.emit(MESSAGE_EVENT, b); break; }
    case 'truncated': { const b = encodeMessage({ type: 'agg', round, aggType: 'plain/update', payload: { update: new Float32Array(DIM), weight: 1 } }); s.emit(MESSAGE_EVENT, b.subarray(0, 8 + Math.floor(rng() * (b.length - 16)))); break; }
    case 'json-garbage': s.emit(MESSAGE_EVENT, handBuilt(null, new Uint8Array(0), '{"type": "agg", round: ')); break;
    case 'amplification': {
      // 142 KB asking for 3,000 copies of one 48 KB blob (140 MB) on a codec that copies each reference.
      const refs = Array.from({ length: 3000 }, () => ({ $bin: 'f32', at: 0, n: 49152 }));
      s.emit(MESSAGE_EVENT, handBuilt({ type: 'agg', round, aggType: 'plain/update', payload: { update: refs, weight: 1 } }, new Uint8Array(49152)));
      break;
    }
    case 'overlapping-refs': {
      const refs = Array.from({ length: 200 }, (_, i) => ({ $bin: 'u8', at: i * 8, n: 30_000 }));
      s.emit(MESSAGE_EVENT, handBuilt({ type: 'agg', round, aggType: 'plain/update', payload: refs }, new Uint8Array(32_768)));
      break;
    }
    case 'deep-nesting': s.emit(MESSAGE_EVENT, handBuilt(null, new Uint8Array(0), `${'['.repeat(5000)}${']'.repeat(5000)}`)); break;
    case 'proto-key': s.emit(MESSAGE_EVENT, handBuilt(null, new Uint8Array(0), '{"type":"agg","round":1,"aggType":"plain/update","payload":{"__proto__":{"weight":1}}}')); break;
    case 'schema-invalid': a.peer.send(pick(rng, [
      { type: 'no-such-type' }, { type: 'fit-meta', round: -1, numExamples: 1, metrics: {}, trainMs: 1 },
      { type: 'agg', round, aggType: 'nonamespace', payload: {} }, { type: 'fit-failed', round, reason: 'x'.repeat(5000) },
      { type: 'model-get', hash: 'not-hex' }, { type: 'eval-result', round, numExamples: 1.5, metrics: {} },
    ])); break;
    case 'poisoned-update': {
      const kind = Math.floor(rng() * 4);
      const update = kind === 0 ? new Float32Array(DIM).fill(3e38) : kind === 1 ? new Float32Array(DIM).fill(Number.NaN)
        : kind === 2 ? new Float32Array(DIM + 1) : new Float32Array(DIM).fill(1e4);
      a.peer.send({ type: 'agg', round: a.fits.at(-1) ?? round, aggType: 'plain/update', payload: { update, weight: kind === 3 ? 1e12 : 1 } });
      break;
    }
    case 'stale-message': a.peer.send(pick(rng, [
      { type: 'fit-meta', round: 999_999, numExamples: 1, metrics: {}, trainMs: 1 }, { type: 'fit-failed', round: 999_999, reason: 'x' },
      { type: 'eval-result', round: 999_999, numExamples: 1, metrics: {} }, { type: 'agg', round: 999_999, aggType: 'plain/update', payload: null },
    ])); break;
    case 'unknown-model': a.peer.send({ type: 'model-get', hash: sha256Hex(randomBytes(rng, 8)) }); break;
    case 'chunk-malformed': s.emit(CHUNK_EVENT, pick(rng, [{ id: 'x' }, { id: '', index: -1, count: 0, totalBytes: 0, sha256: 'z', data: new Uint8Array(1) }, 'frame'])); break;
    case 'chunk-oversize': s.emit(CHUNK_EVENT, { id: `o${rng()}`, index: 0, count: 4000, totalBytes: 2 ** 31, sha256: 'a'.repeat(64), data: new Uint8Array(16) }); break;
    case 'chunk-unknown-transfer': s.emit(CHUNK_EVENT, { id: `u${rng()}`, index: 3, count: 5, totalBytes: 100, sha256: 'a'.repeat(64), data: new Uint8Array(20) }); break;
    case 'chunk-bad-sha': {
      const [f] = splitIntoFrames(encodeMessage({ type: 'model-get', hash: 'a'.repeat(64) }), 1 << 20);
      s.emit(CHUNK_EVENT, { ...f!, sha256: 'b'.repeat(64) });
      break;
    }
  }
}

async function sendHttpAttack(url: string, admin: string, cls: (typeof HTTP_CLASSES)[number], rng: Rng): Promise<number> {
  const auth = { authorization: `Bearer ${admin}` };
  switch (cls) {
    case 'bad-percent-path': return rawHttp(url, 'GET', pick(rng, ['/api/v1/federations/%E0%A4%A', '/api/v1/federations/%', '/api/v1/federations/%C0%AF', '/dashboard/%FF%']), auth);
    case 'bad-content-encoding': return rawHttp(url, 'POST', '/api/v1/federations', { ...auth, 'content-type': 'application/json', 'content-encoding': pick(rng, ['br', 'gzip', 'deflate', 'x-unknown']) }, Buffer.from('{"name":"x"}'));
    case 'deep-config': return (await api(url, admin, 'POST', '/federations', `{"name":"d","model":${JSON.stringify(FUZZ_MODEL)},"rounds":1,"secureAggregation":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`)).status;
    case 'invalid-secagg': return (await api(url, admin, 'POST', '/federations', { name: 's', model: FUZZ_MODEL, rounds: 1, secureAggregation: pick(rng, [{ clip: -1 }, { neighbors: 'x' }, { maxWeight: 0 }, { bogus: 1 }, { threshold: 1000 }]) })).status;
    case 'huge-model': return (await api(url, admin, 'POST', '/federations', { name: 'h', model: { ...FUZZ_MODEL, itemVocab: 2_000_000, dModel: 64 }, rounds: 1 })).status;
    case 'no-auth': return rawHttp(url, 'GET', '/api/v1/federations', {});
    case 'junk-body': return rawHttp(url, 'POST', '/api/v1/federations', { ...auth, 'content-type': 'application/json' }, Buffer.from(randomBytes(rng, 200)));
  }
}

async function tryHandshake(url: string, auth: Record<string, unknown> | ((cb: (d: object) => void) => void)): Promise<boolean> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, auth });
  const ok = await new Promise<boolean>((resolve) => {
    socket.once('connect', () => resolve(true));
    socket.once('connect_error', () => resolve(false));
  });
  socket.close();
  return ok;
}

async function sendHandshakeAttack(url: string, token: string, cls: (typeof HANDSHAKE_CLASSES)[number], replay: Record<string, unknown>): Promise<boolean> {
  switch (cls) {
    case 'garbage-auth': return tryHandshake(url, { token: 42, signature: null });
    case 'old-protocol': {
      const s: Socket = io(url, { transports: ['websocket'], reconnection: false, auth: (cb) => cb({ ...signedAuth(token, s.io.engine.id), protocolVersion: 1 }) });
      const ok = await new Promise<boolean>((resolve) => { s.once('connect', () => resolve(true)); s.once('connect_error', () => resolve(false)); });
      s.close();
      return ok;
    }
    case 'bad-signature': return tryHandshake(url, { ...signedAuth(token, 'not-this-session') });
    case 'replayed-handshake': return tryHandshake(url, replay);
  }
}

/** Runs the fuzz against a coordinator at `url`; honest rounds run throughout. */
export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const rng = seedrandom(String(o.seed ?? 1));
  const admin = o.adminToken;
  const fed = await api(o.url, admin, 'POST', '/federations', {
    name: 'fuzz', model: FUZZ_MODEL, rounds: 100_000, deadlines: { trainMs: 2000 },
    strategy: { clientsPerRound: 2, minFitClients: 2, overSelection: 10, localEpochs: 1, learningRate: 0.05, optimizer: 'sgd', evaluateEvery: 0 },
  });
  if (fed.status !== 201) throw new Error(`fuzz federation: ${fed.status} ${JSON.stringify(fed.json)}`);
  const fedId = fed.json.id as string;
  const token = async (): Promise<string> => (await api(o.url, admin, 'POST', `/federations/${fedId}/tokens`, {})).json.token as string;

  const honest: FederatedClient[] = [];
  for (let i = 0; i < (o.honestClients ?? 2); i++) {
    honest.push(new FederatedClient({ coordinatorUrl: o.url, token: await token(), trainer: honestTrainer(i), workDir: join(o.workDir, `honest-${i}`), reconnect: { initialDelayMs: 100, maxDelayMs: 1000 } }));
  }
  await Promise.all(honest.map((c) => c.start()));
  const attackers: Attacker[] = [];
  for (let i = 0; i < (o.attackers ?? 3); i++) attackers.push(await connectAttacker(o.url, await token()));
  const spareToken = await token();
  await api(o.url, admin, 'POST', `/federations/${fedId}/start`);

  const byClass: Record<string, number> = {};
  const httpStatuses: Record<string, number> = {};
  let socketMessages = 0, httpRequests = 0, handshakes = 0, handshakesAccepted = 0, http5xx = 0;
  const t0 = performance.now();
  for (let i = 0; i < o.messages; i++) {
    const r = rng();
    if (r < 0.9) {
      const cls = pick(rng, SOCKET_CLASSES);
      sendSocketAttack(pick(rng, attackers), cls, rng, 1);
      byClass[cls] = (byClass[cls] ?? 0) + 1;
      socketMessages++;
      // Yield now and then, so the sender does not buffer thousands of frames in one turn.
      if (socketMessages % 8 === 0) await new Promise((res) => setTimeout(res, 2));
    } else if (r < 0.98) {
      const cls = pick(rng, HTTP_CLASSES);
      const status = await sendHttpAttack(o.url, admin, cls, rng);
      byClass[`http:${cls}`] = (byClass[`http:${cls}`] ?? 0) + 1;
      httpStatuses[String(status)] = (httpStatuses[String(status)] ?? 0) + 1;
      if (status >= 500 || status === 0) http5xx++;
      httpRequests++;
    } else {
      const cls = pick(rng, HANDSHAKE_CLASSES);
      if (await sendHandshakeAttack(o.url, spareToken, cls, pick(rng, attackers).handshake)) handshakesAccepted++;
      byClass[`handshake:${cls}`] = (byClass[`handshake:${cls}`] ?? 0) + 1;
      handshakes++;
    }
  }
  // Let the last answers arrive.
  const answeredNow = (): number => attackers.reduce((n, a) => n + a.errors.length, 0);
  for (let waited = 0; waited < 5000 && answeredNow() < socketMessages; waited += 100) await new Promise((res) => setTimeout(res, 100));
  const wallMs = performance.now() - t0;

  const errorCodes: Record<string, number> = {};
  for (const a of attackers) for (const e of a.errors) if (e.type === 'error') errorCodes[e.code] = (errorCodes[e.code] ?? 0) + 1;
  const rounds = (await api(o.url, admin, 'GET', `/federations/${fedId}/rounds`)).json.rounds as Array<{ status: string }>;
  const weights = await fetch(`${o.url}/api/v1/federations/${fedId}/rounds/latest/weights.bin`, { headers: { authorization: `Bearer ${admin}` } });
  const buf = new Uint8Array(await weights.arrayBuffer());
  const values = new Float32Array(buf.buffer, buf.byteOffset, Math.floor(buf.byteLength / 4));
  const honestModelFinite = weights.status === 200 && values.length === DIM && values.every((v) => Number.isFinite(v) && Math.abs(v) < 10);

  await api(o.url, admin, 'POST', `/federations/${fedId}/stop`);
  for (const a of attackers) a.socket.close();
  await Promise.all(honest.map((c) => c.stop()));
  return {
    messages: socketMessages + httpRequests + handshakes, socketMessages, httpRequests, handshakes, byClass,
    answered: answeredNow(), errorCodes, http5xx, httpStatuses, handshakesAccepted,
    honestRoundsCompleted: rounds.filter((r) => r.status === 'completed').length, honestModelFinite, wallMs: Math.round(wallMs),
  };
}
