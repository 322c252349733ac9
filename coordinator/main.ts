// Stand-alone entry: `node --import tsx coordinator/main.ts --port … --data-dir … --admin-token …`
// (the `fedprofile coordinator` subcommand runs the same command).
import { coordinatorCommand } from './cli.js';

coordinatorCommand().parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`fedprofile coordinator: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
