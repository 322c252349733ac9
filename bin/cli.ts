/**
 * The `fedprofile` command line. Each area owns its subcommand; this file only assembles them and turns
 * expected failures (bad input, bad config, wrong token) into one readable line and a non-zero exit code.
 */
import { Command, CommanderError } from 'commander';
import { isFedProfileError } from '../shared/errors.js';
import { coordinatorCommand } from '../coordinator/cli.js';
import { clientCommand } from '../client-sdk/cli.js';
import { simulateCommand } from '../simulations/cli.js';
import { dataCommand } from '../simulations/data-cli.js';

export function buildCli(): Command {
  const program = new Command('fedprofile')
    .description('Federated learning of BERT-based e-commerce user profiles, with SecAgg+ secure aggregation.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)');
  program.addCommand(coordinatorCommand());
  program.addCommand(clientCommand());
  program.addCommand(simulateCommand());
  program.addCommand(dataCommand());
  return program;
}

function report(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode;
  if (isFedProfileError(err)) {
    process.stderr.write(`fedprofile: ${err.message} [${err.code}]\n`);
    return 2;
  }
  process.stderr.write(`fedprofile: unexpected failure: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  return 1;
}

try {
  await buildCli().parseAsync(process.argv);
} catch (err) {
  process.exitCode = report(err);
}
