import { z } from 'zod';
import { StrategyConfigSchema } from '../shared/aggregation/strategy-config.js';
import { FederationConfigSchema } from './federation-config.js';

type Schema = Record<string, unknown>;

const jsonSchema = (s: z.ZodType, io: 'input' | 'output' = 'input'): Schema =>
  z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Schema;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const nullable = (s: Schema): Schema => ({ anyOf: [s, { type: 'null' }] });
const int = { type: 'integer' };
const num = { type: 'number' };
const str = { type: 'string' };
const millis = { type: 'integer', description: 'Unix time in milliseconds' };
const hash = { type: 'string', pattern: '^[0-9a-f]{64}$' };
const metricMap = { type: 'object', additionalProperties: { type: 'number' } };
/** Every key is required and no other key is allowed: the spec says exactly what the coordinator sends. */
const closed = (properties: Record<string, Schema>, optional: string[] = []): Schema => ({
  type: 'object', additionalProperties: false, properties,
  required: Object.keys(properties).filter((k) => !optional.includes(k)),
});

const FEDERATION_STATUS = { type: 'string', enum: ['created', 'running', 'paused', 'stopped', 'completed', 'needs-attention'] };

const schemas: Record<string, Schema> = {
  Error: closed({
    error: closed({ code: str, message: str, details: { type: 'object' } }, ['details']),
  }),
  QuorumWait: closed({ needed: int, online: int, message: str }),
  LiveState: {
    type: 'object',
    description: 'The round engine\'s view right now (not persisted).',
    required: ['status', 'completedRounds', 'lastRound', 'modelHash', 'stage', 'online'],
    properties: {
      status: FEDERATION_STATUS, completedRounds: int, lastRound: int, modelHash: hash,
      stage: { type: 'string', description: '"idle", "fit:<aggregation stage>", "commit" or "evaluate"' },
      round: int, online: int,
      waiting: ref('QuorumWait'),
      retryAt: { ...millis, description: 'after a failed round, the earliest start of the next (backoff)' },
      consecutiveFailures: int, statusReason: str,
    },
  },
  RoundProgress: closed({
    round: int,
    status: { type: 'string', enum: ['running', 'committing', 'completed', 'failed'] },
    clients: {
      type: 'object',
      additionalProperties: closed({
        state: { type: 'string', enum: ['training', 'update sent', 'failed', 'disconnected', 'aggregated', 'left out'] },
        detail: str,
      }, ['detail']),
    },
  }),
  PrivacyStatus: {
    ...closed({
      mode: { type: 'string', enum: ['central', 'distributed'] }, epsilon: { type: 'number' }, delta: { type: 'number' },
      epsilonBudget: nullable({ type: 'number' }), rounds: int, noiseMultiplier: { type: 'number' }, clipNorm: { type: 'number' },
    }),
    description: 'DP-FedAvg: (ε, δ) spent by the committed rounds (RDP accountant, fixed-size sampling); no round starts that would pass epsilonBudget',
  },
  Federation: closed({
    id: str, name: str, status: FEDERATION_STATUS,
    statusReason: { ...nullable(str), description: 'why the coordinator set this status (e.g. paused after failed rounds)' },
    config: ref('FederationConfigResolved'), completedRounds: int, lastRound: int, modelHash: hash, parameters: int,
    live: ref('LiveState'), roundProgress: nullable(ref('RoundProgress')),
    privacy: { ...nullable(ref('PrivacyStatus')), description: 'null when dp is off' },
    attention: {
      ...nullable({ type: 'object' }),
      description: 'why this federation needs an operator: a fault that paused it, a failed command (full disk), or a checkpoint it could not load (code, file, reason)',
    },
    archivedAt: nullable(millis), createdAt: millis, updatedAt: millis,
  }),
  FederationList: closed({ federations: { type: 'array', items: ref('Federation') } }),
  Round: closed({
    federationId: str, round: int, status: { type: 'string', enum: ['running', 'completed', 'failed', 'interrupted'] },
    startedAt: millis, finishedAt: nullable(millis), participants: { type: 'array', items: str },
    contributors: nullable({ type: 'array', items: str }), modelHash: nullable(hash),
    metrics: nullable(metricMap), evalMetrics: nullable(metricMap), reason: nullable(str),
  }),
  RoundList: closed({ rounds: { type: 'array', items: ref('Round') } }),
  Client: closed({
    id: str, federationId: str, name: nullable(str), identityPublicKey: str, tokenId: str, createdAt: millis,
    lastSeenAt: { ...nullable(millis), description: 'last message or heartbeat' },
    lastError: nullable(closed({ message: str, round: nullable(int), at: millis, stage: str })),
    online: { type: 'boolean' },
    round: nullable(closed({ round: int, state: str, detail: str }, ['detail'])),
  }),
  ClientList: closed({ clients: { type: 'array', items: ref('Client') } }),
  Token: closed({ id: str, federationId: str, label: nullable(str), clientId: nullable(str), createdAt: millis, revokedAt: nullable(millis) }),
  TokenList: closed({ tokens: { type: 'array', items: ref('Token') } }),
  IssuedToken: closed({ id: str, token: { type: 'string', pattern: '^fpt_' }, federationId: str, label: nullable(str) }),
  Revoked: closed({ revoked: { const: true }, disconnected: { ...int, description: 'live sessions of this token that were ended' } }),
  Deleted: closed({ deleted: { const: true }, id: str }),
  AuditList: closed({
    entries: { type: 'array', items: closed({ at: millis, actor: str, action: str, federationId: nullable(str), details: {} }) },
  }),
  ModelJson: {
    type: 'object', required: ['modelTopology', 'format', 'weightsManifest'],
    properties: { modelTopology: { type: 'object' }, format: str, generatedBy: str, weightsManifest: { type: 'array' }, userDefinedMetadata: { type: 'object' } },
  },
  Health: closed({ status: { const: 'ok' }, federations: int, needsAttention: { ...int, description: 'federations set aside (corrupt checkpoint, refused stored config)' } }),
  KeyCheckReset: closed({ previous: nullable(str) }),
};

const json = (description: string, schema: Schema) => ({ description, content: { 'application/json': { schema } } });
const ERROR_TEXT: Record<number, string> = {
  400: 'Bad input; the message names the field', 401: 'Missing or malformed Authorization header', 403: 'Wrong admin token',
  404: 'No such federation, round, token or file', 409: 'Not allowed in the federation\'s current state', 413: 'Request body too large',
};
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, json(ERROR_TEXT[c]!, ref('Error'))]));
const AUTH = [401, 403];

const idParam = { name: 'id', in: 'path', required: true, schema: str };
const roundParam = { name: 'round', in: 'path', required: true, schema: { type: 'string', description: 'round number, 0 (initial model) or "latest"' } };
const tokenIdParam = { name: 'tokenId', in: 'path', required: true, schema: str };

interface Op { summary: string; responses: Record<string, unknown>; parameters?: unknown[]; requestBody?: unknown; security?: unknown[]; servers?: unknown[] }
const op = (summary: string, responses: Record<string, unknown>, extra: Partial<Op> = {}): Op => ({ summary, security: [{ bearer: [] }], responses, ...extra });

/** OpenAPI 3.1 description of the operator API, served at /api/v1/openapi.json. */
export function openApiDocument(): Record<string, unknown> {
  const federationConfig = jsonSchema(FederationConfigSchema);
  (federationConfig.properties as Schema).strategy = jsonSchema(StrategyConfigSchema);
  const resolved = jsonSchema(FederationConfigSchema, 'output');
  (resolved.properties as Schema).strategy = jsonSchema(StrategyConfigSchema, 'output');
  const root = [{ url: '/' }];
  return {
    openapi: '3.1.0',
    info: { title: 'fedprofile coordinator API', version: '1.0.0', description: 'Operate federations: create, control, watch rounds, enrol clients, download global models.' },
    servers: [{ url: '/api/v1' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'the coordinator admin token (--admin-token)' } },
      schemas: {
        FederationConfig: federationConfig,
        FederationConfigResolved: { ...resolved, description: 'The federation config as stored, every default filled in.' },
        ...schemas,
      },
    },
    paths: {
      '/openapi.json': { get: { summary: 'This document', security: [], responses: { 200: json('OpenAPI 3.1 document', { type: 'object' }) } } },
      '/federations': {
        get: op('List federations', { 200: json('Federations', ref('FederationList')), ...errors(400, ...AUTH) }, {
          parameters: [{ name: 'archived', in: 'query', required: false, schema: { type: 'string', enum: ['exclude', 'include', 'only'], default: 'exclude' } }],
        }),
        post: op('Create a federation (initialises and checkpoints round 0)', { 201: json('Created', ref('Federation')), ...errors(400, ...AUTH, 413) }, {
          requestBody: { required: true, content: { 'application/json': { schema: ref('FederationConfig') } } },
        }),
      },
      '/federations/{id}': {
        get: op('Get a federation with its live state', { 200: json('The federation', ref('Federation')), ...errors(...AUTH, 404) }, { parameters: [idParam] }),
        delete: op('Delete a federation that is not running, with its rounds, clients, tokens and checkpoints', {
          200: json('Deleted', ref('Deleted')), ...errors(...AUTH, 404, 409),
        }, { parameters: [idParam] }),
      },
      ...Object.fromEntries(([
        ['start', 'Start rounds'], ['pause', 'Finish the current round, then wait'], ['resume', 'Resume after a pause (also clears an automatic pause)'],
        ['stop', 'Stop: the running round fails, the last completed model stays'],
        ['archive', 'Hide a federation that is not running from the default listing'], ['unarchive', 'Bring an archived federation back'],
      ] as const).map(([action, summary]) => [`/federations/{id}/${action}`, {
        post: op(summary, { 200: json('The federation after the change', ref('Federation')), ...errors(...AUTH, 404, 409) }, { parameters: [idParam] }),
      }])),
      '/federations/{id}/rounds': {
        get: op('List rounds with metrics', { 200: json('Rounds', ref('RoundList')), ...errors(...AUTH, 404) }, { parameters: [idParam] }),
      },
      '/federations/{id}/rounds/{round}': {
        get: op('Get one round', { 200: json('The round', ref('Round')), ...errors(400, ...AUTH, 404) }, { parameters: [idParam, roundParam] }),
      },
      '/federations/{id}/rounds/{round}/model.json': {
        get: op('TF.js model.json of a round\'s global model', { 200: json('model.json', ref('ModelJson')), ...errors(400, ...AUTH, 404) }, { parameters: [idParam, roundParam] }),
      },
      '/federations/{id}/rounds/{round}/weights.bin': {
        get: op('Weights of a round\'s global model', {
          200: { description: 'float32 little-endian weights', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          ...errors(400, ...AUTH, 404),
        }, { parameters: [idParam, roundParam] }),
      },
      '/federations/{id}/tokens': {
        get: op('List enrolment tokens (never the token values)', { 200: json('Tokens', ref('TokenList')), ...errors(...AUTH, 404) }, { parameters: [idParam] }),
        post: op('Issue an enrolment token; its value is shown once', { 201: json('Issued', ref('IssuedToken')), ...errors(400, ...AUTH, 404, 413) }, {
          parameters: [idParam],
          requestBody: { content: { 'application/json': { schema: { type: 'object', additionalProperties: false, properties: { label: { type: 'string', maxLength: 200 } } } } } },
        }),
      },
      '/federations/{id}/tokens/{tokenId}': {
        delete: op('Revoke an enrolment token', { 200: json('Revoked', ref('Revoked')), ...errors(...AUTH, 404) }, { parameters: [idParam, tokenIdParam] }),
      },
      '/federations/{id}/clients': {
        get: op('List enrolled clients: online, last seen, last reported error, state in the current round', {
          200: json('Clients', ref('ClientList')), ...errors(...AUTH, 404),
        }, { parameters: [idParam] }),
      },
      '/federations/{id}/key-check': {
        delete: op('Forget the hash-key check value the first merchant pinned (a mistyped key); the next merchant pins anew', {
          200: json('The check value that was pinned', ref('KeyCheckReset')), ...errors(...AUTH, 404),
        }, { parameters: [idParam] }),
      },
      '/audit': {
        get: op('Recent audit log entries', { 200: json('Entries, newest first', ref('AuditList')), ...errors(...AUTH) }, {
          parameters: [{ name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } }],
        }),
      },
      '/healthz': {
        get: { summary: 'Liveness: the process serves HTTP', security: [], servers: root, responses: { 200: json('Healthy', ref('Health')) } },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics (rounds, clients online, bytes, round duration, rejected messages)', security: [], servers: root,
          responses: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
    },
  };
}
