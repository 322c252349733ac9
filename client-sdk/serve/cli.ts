import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../../shared/errors.js';
import type { BackendChoice } from '../../shared/tf/backend.js';
import { CLI_BACKENDS, backendArg } from '../cli.js';
import { readItemCatalogue, readTaxonomy } from '../taxonomy.js';

const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
};

interface ServeCliOptions {
  data: string; hashKey?: string; categories?: string; items?: string; serviceToken?: string; modelDir?: string; coordinator?: string;
  token?: string; ca?: string; modelPoll: number; port: number; host: string; backend: BackendChoice;
}

/** `fedprofile serve`: the merchant's profile service over the global model and its own events. */
export function serveCommand(): Command {
  return new Command('serve')
    .description('serve profiles and segments of this merchant\'s users over HTTP, from the global model and local events')
    .requiredOption('--data <path>', 'this merchant\'s behaviour events (any supported format); new ones arrive by POST /events')
    .addOption(new Option('--hash-key <secret>', 'the federation\'s id hashing secret (the one the client trains with)').env('FEDPROFILE_HASH_KEY'))
    .option('--categories <file>', 'the federation\'s category taxonomy (JSON array), as given to the client')
    .option('--items <file>', 'the federation\'s item catalogue (JSON array of item ids), as given to the client')
    .addOption(new Option('--service-token <token>', 'bearer token your own systems present to this service (16+ characters)').env('FEDPROFILE_SERVICE_TOKEN'))
    .option('--model-dir <dir>', 'a saved model directory (model.json + weights.bin)')
    .option('--coordinator <url>', 'fetch the latest global model from this coordinator (with --token), and newer ones as rounds complete')
    .addOption(new Option('--token <token>', 'enrolment token (read-only model download)').env('FEDPROFILE_TOKEN'))
    .option('--ca <file>', 'PEM CA certificate to trust for the coordinator')
    .option('--model-poll <seconds>', 'how often to check the coordinator for a newer model (0 = never)', (v: string) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected seconds >= 0');
      return n;
    }, 60)
    .option('--port <port>', 'port to listen on (0 = any free port)', port, 8090)
    .option('--host <host>', 'interface to bind; keep it on the merchant\'s network', '127.0.0.1')
    .option('--backend <backend>', `tfjs backend: ${CLI_BACKENDS.join(', ')}`, backendArg, 'auto')
    .addHelpText('after', `
Endpoints (all but /healthz need "Authorization: Bearer <service token>"):
  GET  /profiles/:userId        the user's profile (interests, propensity, tier, activity, next items, segment)
  POST /events                  one event or an array; the users' profiles are recomputed before the reply
  GET  /segments                segment sizes            (?format=csv or Accept: text/csv for CSV)
  GET  /segments/:id/users      users of a segment       (?format=csv or Accept: text/csv for CSV)
  GET  /healthz                 liveness, user count, model round
The service never sends events or profiles anywhere; with --coordinator it only downloads the model.
`)
    .action(async (o: ServeCliOptions) => {
      if (!o.hashKey) throw new ConfigError('--hash-key (or FEDPROFILE_HASH_KEY) is required: the id hashing secret shared by the merchants');
      if (!o.serviceToken) throw new ConfigError('--service-token (or FEDPROFILE_SERVICE_TOKEN) is required: the bearer token your systems will present');
      if (!!o.modelDir === !!o.coordinator) throw new ConfigError('give exactly one model source: --model-dir <dir> or --coordinator <url> with --token');
      if (o.coordinator && !o.token) throw new ConfigError('--coordinator needs --token (or FEDPROFILE_TOKEN): the merchant\'s enrolment token');
      const knownCategories = o.categories ? readTaxonomy(o.categories) : undefined;
      const [{ pino }, { startProfileService }] = await Promise.all([import('pino'), import('./service.js')]);
      const logger = pino({ name: 'fedprofile-serve' }, pino.destination(2));
      const svc = await startProfileService({
        data: o.data, hashKey: o.hashKey, knownCategories, knownItems: o.items ? readItemCatalogue(o.items) : undefined, authToken: o.serviceToken,
        model: o.modelDir ? { modelDir: o.modelDir } : { url: o.coordinator!, token: o.token!, ...(o.ca ? { ca: readFileSync(o.ca) } : {}) },
        modelPollMs: o.modelPoll * 1000, port: o.port, host: o.host, backend: o.backend, logger,
      });
      process.stdout.write(`${JSON.stringify({ event: 'listening', url: svc.url, port: svc.port, users: svc.state.users })}\n`);
      const shutdown = (): void => { void svc.close().then(() => process.exit(0)); };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    });
}
