import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { pino } from 'pino';
import { BACKEND_CHOICES, type BackendChoice } from '../shared/tf/backend.js';
import { FederatedClient } from './federated-client.js';
import { DataFileError } from '../shared/errors.js';

/** A taxonomy file is a JSON array of category id strings; anything else is refused with the file's name. */
function readTaxonomy(file: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DataFileError(file, `cannot read the category taxonomy: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((c) => typeof c === 'string' && c.length > 0)) {
    throw new DataFileError(file, 'a category taxonomy must be a non-empty JSON array of category id strings');
  }
  return parsed as string[];
}

/** `fedprofile client`: joins a federation and trains on local data until interrupted. */
export function clientCommand(): Command {
  return new Command('client')
    .description('run a merchant client node: join a federation and train on local data (which never leaves this machine)')
    .requiredOption('--coordinator <url>', 'coordinator URL, e.g. https://coordinator.example.com:8443')
    .addOption(new Option('--token <token>', 'enrolment token from the operator').env('FEDPROFILE_TOKEN'))
    .requiredOption('--data <path>', 'behaviour events: JSONL/CSV file, or a MovieLens / RetailRocket / Taobao file or folder')
    .addOption(new Option('--hash-key <secret>', 'federation-wide id hashing secret shared by merchants').env('FEDPROFILE_HASH_KEY'))
    .option('--categories <file>', 'the federation\'s shared category taxonomy: a JSON array of category ids (same file at every merchant)')
    .option('--name <name>', 'display name shown to the operator')
    .option('--work-dir <dir>', 'identity key, pinned neighbour keys and model cache', '.fedprofile-client')
    .option('--backend <backend>', `tfjs backend: ${BACKEND_CHOICES.join(', ')}`, (v: string) => {
      if (!(BACKEND_CHOICES as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${BACKEND_CHOICES.join(', ')}`);
      return v as BackendChoice;
    }, 'auto')
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
    .action(async (o: { coordinator: string; token?: string; data: string; hashKey?: string; categories?: string; name?: string; workDir: string; backend: BackendChoice; ca?: string; trustedIdentities?: string; secaggMinThreshold?: number; quiet?: boolean }) => {
      if (!o.token) throw new InvalidArgumentError('--token (or FEDPROFILE_TOKEN) is required');
      if (!o.hashKey) throw new InvalidArgumentError('--hash-key (or FEDPROFILE_HASH_KEY) is required');
      const logger = pino({ name: 'fedprofile-client', level: o.quiet ? 'warn' : 'info' }, pino.destination(2));
      const client = new FederatedClient({
        coordinatorUrl: o.coordinator, token: o.token, dataSource: o.data, hashKey: o.hashKey, name: o.name,
        knownCategories: o.categories ? readTaxonomy(o.categories) : undefined,
        workDir: o.workDir, backend: o.backend, logger, ca: o.ca ? readFileSync(o.ca) : undefined,
        trustedIdentitiesFile: o.trustedIdentities, secaggMinThreshold: o.secaggMinThreshold,
      });
      const bar = o.quiet ? undefined : new cliProgress.SingleBar({
        format: 'round {round} |{bar}| epoch {epoch}/{epochs} step {value}/{total} loss {loss}', hideCursor: true, clearOnComplete: true,
      }, cliProgress.Presets.shades_classic);
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
      logger.info(who, 'joined federation; waiting for rounds (Ctrl-C to leave)');
      await new Promise<void>((resolve) => {
        const stop = (): void => { bar?.stop(); void client.stop().then(resolve); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
