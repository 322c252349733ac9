/**
 * The `fedprofile` command line. Each area owns its subcommand; this file only assembles them and turns every
 * failure into one line and an exit code (see shared/cli/failure.ts: 2 usage/config, 1 run time).
 * Subcommand modules import only commander at load time and load their engines inside the action, so
 * `--help` never pays for tfjs, SQLite or socket.io.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { describeFailure } from '../shared/cli/failure.js';
import { coordinatorCommand } from '../coordinator/cli.js';
import { clientCommand } from '../client-sdk/cli.js';
import { serveCommand } from '../client-sdk/serve/cli.js';
import { simulateCommand } from '../simulations/cli.js';
import { dataCommand } from '../simulations/data-cli.js';

/** The version in the package.json above this file (from the sources or from dist/). */
export function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    if (dirname(dir) === dir) return 'unknown';
  }
}

/** Every command throws instead of exiting, and prints its parse errors through describeFailure. */
function uniform(cmd: Command): Command {
  cmd.exitOverride().configureOutput({ outputError: () => undefined });
  for (const sub of cmd.commands) uniform(sub);
  return cmd;
}

export function buildCli(): Command {
  const program = new Command('fedprofile')
    .description('Federated learning of BERT-based e-commerce user profiles, with SecAgg+ secure aggregation.')
    .version(packageVersion())
    .addHelpText('after', '\nExit codes: 0 success, 1 failure at run time, 2 bad command line, config or input file.\n');
  program.addCommand(coordinatorCommand());
  program.addCommand(clientCommand());
  program.addCommand(serveCommand());
  program.addCommand(simulateCommand());
  program.addCommand(dataCommand());
  return uniform(program);
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildCli().parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    const f = describeFailure(err, { debug: !!process.env.FEDPROFILE_DEBUG });
    if (f.line) process.stderr.write(`${f.line}\n`);
    return f.exitCode;
  }
}

const code = await main(process.argv);
if (code !== 0) process.exitCode = code;
