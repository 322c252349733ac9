import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../shared/errors.js';
import type { BackendChoice } from '../shared/tf/backend.js';
import { readItemCatalogue, readTaxonomy } from './taxonomy.js';

/** Kept here (not imported from shared/tf) so `--help` does not load tfjs. */
export const CLI_BACKENDS = ['auto', 'node-gpu', 'node', 'wasm', 'cpu'] as const satisfies readonly BackendChoice[];

export function backendArg(v: string): BackendChoice {
  if (!(CLI_BACKENDS as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${CLI_BACKENDS.join(', ')}`);
  return v as BackendChoice;
}

/** How often an unreachable coordinator is reported while the client keeps retrying. */
const CONNECT_REPORT_MS = 5000;

interface ClientCliOptions {
  coordinator: string; token?: string; data: string; hashKey?: string; categories?: string; items?: string; evaluationProtocol?: 'time-window' | 'leave-one-out'; name?: string;
  workDir: string; backend: BackendChoice; ca?: string; trustedIdentities?: string; secaggMinThreshold?: number; quiet?: boolean;
}

/** `fedprofile client`: joins a federation and trains on local data until it ends or is interrupted. */
export function clientCommand(): Command {
  return new Command('client')
    .description('run a merchant client node: join a federation and train on local data (which never leaves this machine)')
    .requiredOption('--coordinator <url>', 'coordinator URL, e.g. https://coordinator.example.com:8443')
    .addOption(new Option('--token <token>', 'enrolment token from the operator').env('FEDPROFILE_TOKEN'))
    .requiredOption('--data <path>', 'behaviour events: JSONL/CSV file, or a MovieLens / RetailRocket / Taobao file or folder')
    .addOption(new Option('--hash-key <secret>', 'federation-wide id hashing secret shared by merchants (8+ characters)').env('FEDPROFILE_HASH_KEY'))
    .option('--categories <file>', 'the federation\'s shared category taxonomy: a JSON array of category ids (same file at every merchant)')
    .addOption(new Option('--evaluation-protocol <protocol>', 'how held-out examples are made for federated evaluation').choices(['time-window', 'leave-one-out']).default('time-window'))
    .option('--items <file>', 'the federation\'s shared item catalogue: a JSON array of item ids (same file at every merchant); listed items get collision-free model ids')
    .option('--name <name>', 'display name shown to the operator')
    .option('--work-dir <dir>', 'identity key, pinned neighbour keys and model cache', '.fedprofile-client')
    .option('--backend <backend>', `tfjs backend: ${CLI_BACKENDS.join(', ')}`, backendArg, 'auto')
    .option('--ca <file>', 'PEM CA certificate to trust (coordinator with a private or self-signed certificate)')
    .option('--trusted-identities <file>', 'secure aggregation: the operator\'s published directory of client identity keys '
      + '(JSON: client id -> base64 key), checked out of band; without it, neighbours\' keys are pinned on first use in the work dir')
    .option('--secagg-min-threshold <t>', 'secure aggregation: lowest threshold t this client accepts, whatever the coordinator asks '
      + '(default: derived from the cohort size)', (v: string) => {
      const t = Number(v);
      if (!Number.isInteger(t) || t < 2 || t > 254) throw new InvalidArgumentError('expected an integer from 2 to 254');
      return t;
    })
    .option('--quiet', 'no progress bar')
    .addHelpText('after', `
Before enrolling the client reads --data once and stops (exit 2) with the reader's message if it is missing,
empty, binary or has the wrong columns. While the coordinator cannot be reached it says so every ${CONNECT_REPORT_MS / 1000} s.
When the federation completes or is stopped it says so and exits 0. Its own errors (bad data, failed training)
are also reported to the coordinator, which lists them per client.
`)
    .action(async (o: ClientCliOptions) => {
      if (!o.token) throw new ConfigError('--token (or FEDPROFILE_TOKEN) is required: the enrolment token the operator issued');
      if (!o.hashKey) throw new ConfigError('--hash-key (or FEDPROFILE_HASH_KEY) is required: the id hashing secret shared by the merchants');
      if (o.hashKey.length < 8) throw new ConfigError('--hash-key must be at least 8 characters');
      const knownCategories = o.categories ? readTaxonomy(o.categories) : undefined;
      const ca = o.ca ? readFileSync(o.ca) : undefined;
      const [{ pino }, { FederatedClient }] = await Promise.all([import('pino'), import('./federated-client.js')]);
      const logger = pino({ name: 'fedprofile-client', level: o.quiet ? 'warn' : 'info' }, pino.destination(2));
      const client = new FederatedClient({
        coordinatorUrl: o.coordinator, token: o.token, dataSource: o.data, hashKey: o.hashKey, name: o.name,
        knownCategories, knownItems: o.items ? readItemCatalogue(o.items) : undefined, evaluationProtocol: o.evaluationProtocol, workDir: o.workDir, backend: o.backend, logger, ca,
        trustedIdentitiesFile: o.trustedIdentities, secaggMinThreshold: o.secaggMinThreshold,
      });
      const say = (line: string): void => { process.stderr.write(`fedprofile client: ${line}\n`); };
      const checked = await client.checkData();
      say(`${o.data}: ${checked.users} users, ${checked.events} events; connecting to ${o.coordinator}`);

      let lastReport = 0;
      client.on('connect-failed', (f) => {
        const now = Date.now();
        if (now - lastReport < CONNECT_REPORT_MS) return;
        lastReport = now;
        say(`cannot reach ${f.url}: ${f.reason}; retrying (attempt ${f.attempt})`);
      });
      const bar = o.quiet ? undefined : await progressBar();
      let barRound = -1;
      client.on('progress', (p) => {
        if (!bar) return;
        const payload = { round: p.round, epoch: p.epoch, epochs: p.epochs, loss: p.loss.toFixed(4) };
        if (barRound !== p.round) { bar.start(p.steps, p.step, payload); barRound = p.round; }
        bar.setTotal(p.steps);
        bar.update(p.step, payload);
      });
      client.on('update-sent', (u) => {
        bar?.stop();
        barRound = -1;
        logger.info({ round: u.round, examples: u.numExamples, trainSeconds: +(u.trainMs / 1000).toFixed(2), bytes: u.bytes }, 'update sent');
      });
      client.on('round-finished', (r) => logger.info({ round: r.round, status: r.status, reason: r.reason }, 'round finished'));
      client.on('evaluated', (e) => logger.info({ round: e.round, ...e.metrics }, 'local evaluation reported'));

      const who = await client.start();
      say(`joined federation ${who.federationId} as ${who.clientId}; waiting for rounds (Ctrl-C to leave)`);
      const exitCode = await new Promise<number>((resolve) => {
        const leave = (code: number): void => { bar?.stop(); void client.stop().then(() => resolve(code)); };
        client.once('federation-ended', (e) => {
          say(`federation ${e.federationId} ${e.status === 'completed' ? 'completed' : 'was stopped'} after ${e.completedRounds} rounds; exiting`);
          leave(0);
        });
        client.on('client-error', (e) => {
          say(`${e.stage} error (reported to the coordinator): ${e.message}`);
          if (e.stage === 'data') leave(2);
        });
        process.once('SIGINT', () => leave(0));
        process.once('SIGTERM', () => leave(0));
      });
      // The client is stopped; a lingering keep-alive socket or worker must not keep the process around.
      process.exit(exitCode);
    });
}

async function progressBar() {
  const { default: cliProgress } = await import('cli-progress');
  return new cliProgress.SingleBar({
    format: 'round {round} |{bar}| epoch {epoch}/{epochs} step {value}/{total} loss {loss}', hideCursor: true, clearOnComplete: true,
  }, cliProgress.Presets.shades_classic);
}
