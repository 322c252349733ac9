import { z } from 'zod';
import { ModelConfigSchema } from '../model/config.js';

/**
 * Every message on the coordinator <-> client socket, as versioned zod schemas. Messages are validated
 * after decoding (see codec.ts) and before anything else looks at them; a message that fails gets an
 * `error` reply and is counted, and the socket carries on.
 */
const round = z.number().int().min(1);
const hash = z.string().regex(/^[0-9a-f]{64}$/, 'expected a SHA-256 hex digest');
const metrics = z.record(z.string().max(64), z.number().refine(Number.isFinite, 'must be finite'))
  .refine((m) => Object.keys(m).length <= 64, 'at most 64 metrics');
/** Aggregator-namespaced message type, e.g. 'plain/update' or 'secagg/share-keys'. */
const aggType = z.string().regex(/^[a-z][a-z0-9-]*\/[a-z][a-z0-9-]*$/, 'expected "<aggregator>/<message>"');

export const FitConfigSchema = z.strictObject({
  round,
  phase: z.enum(['pretrain', 'finetune']),
  localEpochs: z.number().int().min(1).max(1000),
  batchSize: z.number().int().min(1).max(65536),
  learningRate: z.number().positive().max(10),
  optimizer: z.enum(['adam', 'sgd']),
  proximalMu: z.number().min(0).optional(),
  maxExamples: z.number().int().min(1).optional(),
  seed: z.number().int(),
  selectByValidation: z.boolean().optional(),
});

export const WeightManifestSchema = z.strictObject({
  specs: z.array(z.strictObject({
    name: z.string().min(1).max(256),
    shape: z.array(z.number().int().min(0)),
    dtype: z.literal('float32'),
  })).max(10_000),
  totalSize: z.number().int().min(0),
});

export const AggregationInfoSchema = z.strictObject({
  kind: z.enum(['plain', 'secagg']),
  /** Aggregator parameters the client side needs (e.g. SecAgg+ neighbours, threshold, clip). */
  params: z.record(z.string(), z.unknown()),
});

// ---- server -> client ----
export const ServerMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('welcome'), protocolVersion: z.number().int(), clientId: z.string(),
    federationId: z.string(), federationStatus: z.string(), modelHash: hash.optional(),
    /** The federation's model definition, so a client can build its local trainer. */
    modelConfig: ModelConfigSchema,
  }),
  z.strictObject({
    type: z.literal('fit'), round, modelHash: hash, config: FitConfigSchema,
    aggregation: AggregationInfoSchema, deadline: z.number(),
  }),
  z.strictObject({ type: z.literal('evaluate'), round, modelHash: hash, deadline: z.number() }),
  z.strictObject({
    type: z.literal('model'), hash, manifest: WeightManifestSchema, weights: z.instanceof(Float32Array),
  }),
  /** The global model f16 or q8 encoded (the federation's compression.download); `hash` is the exact model's. */
  z.strictObject({
    type: z.literal('model-encoded'), hash, manifest: WeightManifestSchema, encoded: z.instanceof(Uint8Array),
  }),
  z.strictObject({ type: z.literal('agg'), round, aggType, payload: z.unknown() }),
  z.strictObject({
    type: z.literal('round-end'), round, status: z.enum(['completed', 'failed']),
    reason: z.string().optional(), modelHash: hash.optional(),
  }),
  z.strictObject({
    type: z.literal('error'), code: z.string(), message: z.string(), ref: z.string().optional(),
  }),
]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;

// ---- client -> server ----
export const ClientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('model-get'), hash }),
  z.strictObject({ type: z.literal('agg'), round, aggType, payload: z.unknown() }),
  z.strictObject({
    type: z.literal('fit-meta'), round, numExamples: z.number().int().min(0),
    metrics, trainMs: z.number().min(0),
  }),
  z.strictObject({ type: z.literal('fit-failed'), round, reason: z.string().max(1000) }),
  z.strictObject({
    type: z.literal('eval-result'), round, numExamples: z.number().int().min(0), metrics,
  }),
]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;

/** socket.io handshake `auth` object. */
export const HandshakeSchema = z.strictObject({
  protocolVersion: z.number().int(),
  token: z.string().min(8).max(512),
  /** Ed25519 identity public key, base64 (32 bytes). Registered on first enrolment, checked afterwards. */
  identityPublicKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'expected a base64 32-byte Ed25519 public key'),
  /** Detached signature of authChallenge(sessionId, signedAt) by the identity key, proving possession. */
  signedAt: z.number().int(),
  signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'expected a base64 64-byte Ed25519 signature'),
  name: z.string().max(128).optional(),
});
export type Handshake = z.infer<typeof HandshakeSchema>;

/**
 * What a client signs to log in: the coordinator's engine.io session id (random, chosen by the server
 * for this one connection and sent before the handshake) and the time. A handshake captured from one
 * connection therefore does not verify on any other: it cannot be replayed to log in.
 */
export const authChallenge = (sessionId: string, signedAt: number): string => `fedprofile-auth:v2:${sessionId}:${signedAt}`;

/** Turns the first zod issue into "path: message" for the error reply. */
export function describeZodError(err: z.ZodError): string {
  return err.issues.slice(0, 3).map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}
