import { z } from 'zod';
import { StrategyConfigSchema } from '../shared/aggregation/strategy-config.js';
import { FederationConfigSchema } from './federation-config.js';

const jsonSchema = (s: z.ZodType): Record<string, unknown> =>
  z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;

const err = { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
const ok = (description: string, schema: Record<string, unknown> = { type: 'object' }) =>
  ({ description, content: { 'application/json': { schema } } });
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const roundParam = { name: 'round', in: 'path', required: true, schema: { type: 'string', description: 'round number, 0 (initial model) or "latest"' } };
const op = (summary: string, extra: Record<string, unknown> = {}, okDesc = 'OK') => ({
  summary, security: [{ bearer: [] }], responses: { 200: ok(okDesc), 400: err, 401: err, 403: err, 404: err }, ...extra,
});

/** OpenAPI 3.1 description of the operator API, served at /api/v1/openapi.json. */
export function openApiDocument(): Record<string, unknown> {
  const federationSchema = jsonSchema(FederationConfigSchema);
  (federationSchema.properties as Record<string, unknown>).strategy = jsonSchema(StrategyConfigSchema);
  return {
    openapi: '3.1.0',
    info: { title: 'fedprofile coordinator API', version: '1.0.0', description: 'Operate federations: create, control, watch rounds, enrol clients, download global models.' },
    servers: [{ url: '/api/v1' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'the coordinator admin token (--admin-token)' } },
      schemas: {
        FederationConfig: federationSchema,
        Error: {
          type: 'object', required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' } } } },
        },
      },
    },
    paths: {
      '/federations': {
        get: op('List federations'),
        post: op('Create a federation (initialises and checkpoints round 0)', {
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/FederationConfig' } } } },
        }, 'Created'),
      },
      '/federations/{id}': { get: op('Get a federation with its live state', { parameters: [idParam] }) },
      '/federations/{id}/start': { post: op('Start rounds', { parameters: [idParam] }) },
      '/federations/{id}/pause': { post: op('Finish the current round, then wait', { parameters: [idParam] }) },
      '/federations/{id}/resume': { post: op('Resume after pause', { parameters: [idParam] }) },
      '/federations/{id}/stop': { post: op('Stop: the running round fails, the last completed model stays', { parameters: [idParam] }) },
      '/federations/{id}/rounds': { get: op('List rounds with metrics', { parameters: [idParam] }) },
      '/federations/{id}/rounds/{round}': { get: op('Get one round', { parameters: [idParam, roundParam] }) },
      '/federations/{id}/rounds/{round}/model.json': { get: op('TF.js model.json of a round\'s global model', { parameters: [idParam, roundParam] }) },
      '/federations/{id}/rounds/{round}/weights.bin': {
        get: { ...op('Weights of a round\'s global model', { parameters: [idParam, roundParam] }), responses: { 200: { description: 'float32 little-endian weights', content: { 'application/octet-stream': {} } }, 404: err } },
      },
      '/federations/{id}/tokens': {
        get: op('List enrolment tokens (never the token values)', { parameters: [idParam] }),
        post: op('Issue an enrolment token; its value is shown once', {
          parameters: [idParam],
          requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { label: { type: 'string' } } } } } },
        }, 'Created'),
      },
      '/federations/{id}/tokens/{tokenId}': {
        delete: op('Revoke an enrolment token', { parameters: [idParam, { name: 'tokenId', in: 'path', required: true, schema: { type: 'string' } }] }),
      },
      '/federations/{id}/clients': { get: op('List enrolled clients and whether they are online', { parameters: [idParam] }) },
      '/audit': { get: op('Recent audit log entries') },
    },
  };
}
