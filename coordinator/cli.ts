import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../shared/errors.js';

const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
};

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

/** `fedprofile coordinator`: serves the operator API and the client socket until SIGINT/SIGTERM. */
export function coordinatorCommand(): Command {
  return new Command('coordinator')
    .description('run a federation coordinator (REST API + client socket) on one port')
    .option('--port <port>', 'port to listen on (0 = any free port)', port, 8080)
    .option('--host <host>', 'interface to bind (0.0.0.0 for all)', '127.0.0.1')
    .requiredOption('--data-dir <dir>', 'directory for the SQLite store and checkpoints (created if missing)')
    .addOption(new Option('--admin-token <token>', 'bearer token for the operator API (16+ characters)').env('FEDPROFILE_ADMIN_TOKEN'))
    .option('--tls-cert <file>', 'PEM certificate: serve HTTPS/WSS')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--max-model-parameters <n>', 'largest model (parameters) a new federation may have', positiveInt)
    .option('--max-model-bytes <n>', 'largest model (bytes of weights) a new federation may have', positiveInt)
    .action(async (o: { port: number; host: string; dataDir: string; adminToken?: string; tlsCert?: string; tlsKey?: string; maxModelParameters?: number; maxModelBytes?: number }) => {
      if (!o.adminToken) throw new ConfigError('--admin-token (or FEDPROFILE_ADMIN_TOKEN) is required: the bearer token operators use for the API');
      if (!!o.tlsCert !== !!o.tlsKey) throw new ConfigError(`--tls-cert and --tls-key go together: ${o.tlsCert ? '--tls-key' : '--tls-cert'} is missing`);
      const { startCoordinator } = await import('./server.js');
      const c = await startCoordinator({
        port: o.port, host: o.host, dataDir: o.dataDir, adminToken: o.adminToken,
        tls: o.tlsCert && o.tlsKey ? { cert: o.tlsCert, key: o.tlsKey } : undefined, collectProcessMetrics: true,
        limits: {
          ...(o.maxModelParameters !== undefined ? { maxParameters: o.maxModelParameters } : {}),
          ...(o.maxModelBytes !== undefined ? { maxBytes: o.maxModelBytes } : {}),
        },
      });
      // Machine-readable line for scripts and tests that start the coordinator on port 0.
      process.stdout.write(`${JSON.stringify({ event: 'listening', url: c.url, port: c.port })}\n`);
      const shutdown = (): void => { void c.close().then(() => process.exit(0)); };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    });
}
