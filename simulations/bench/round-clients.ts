/**
 * A bench:round client process: real FederatedClients (socket.io over loopback, framing, hashing, model
 * cache on disk) whose trainer returns a delta prepared at start-up, as a client whose training run has
 * already finished would. It runs outside the coordinator's process, so the clients' CPU never sits on the
 * coordinator's event loop. One JSON object per line on stdout:
 *   {"event":"ready"} once every client is connected, then per client and round
 *   {"event":"fit"|"update-sent"|"round-finished","client":i,"round":r,"at":epochMs,...}
 * Usage: tsx round-clients.ts <coordinatorUrl> <workDir> <params> <json [{token,index}]>; stdin's end stops it.
 */
import { pino } from 'pino';
import { FederatedClient } from '../../client-sdk/federated-client.js';
import type { LocalTrainer } from '../../shared/training/types.js';

/** Returns the delta it was built with at once: the bench measures the round, not training. */
export function instantTrainer(length: number, index: number): LocalTrainer {
  const delta = new Float32Array(length);
  let s = (index + 1) * 2654435761;
  for (let i = 0; i < length; i++) { s = (s * 1103515245 + 12345) >>> 0; delta[i] = ((s / 2 ** 32) - 0.5) * 1e-3; }
  return {
    fit: async () => ({ delta, numExamples: 10 + index, metrics: { loss: 1 } }),
    evaluate: async () => ({ numExamples: 1, metrics: {} }),
    close: async () => {},
  };
}

async function main(): Promise<void> {
  const [url, workDir, paramsArg, specJson] = process.argv.slice(2);
  if (!url || !workDir || !paramsArg || !specJson) {
    process.stderr.write('usage: round-clients.ts <coordinatorUrl> <workDir> <params> <json [{token,index}]>\n');
    process.exit(2);
  }
  const params = Number(paramsArg);
  const specs = JSON.parse(specJson) as Array<{ token: string; index: number }>;
  const say = (o: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify({ ...o, at: Date.now() })}\n`); };
  const clients = specs.map(({ token, index }) => {
    const c = new FederatedClient({
      coordinatorUrl: url, token, trainer: instantTrainer(params, index), workDir: `${workDir}/client-${index}`, logger: pino({ level: 'silent' }),
    });
    c.on('round-started', (e) => say({ event: 'fit', client: index, round: e.round }));
    c.on('update-sent', (e) => say({ event: 'update-sent', client: index, round: e.round, trainMs: e.trainMs }));
    c.on('round-finished', (e) => say({ event: 'round-finished', client: index, round: e.round, status: e.status }));
    return c;
  });
  await Promise.all(clients.map((c) => c.start()));
  say({ event: 'ready' });
  const stop = async (): Promise<void> => {
    await Promise.all(clients.map((c) => c.stop()));
    process.exit(0);
  };
  process.on('SIGTERM', () => { void stop(); });
  process.stdin.on('end', () => { void stop(); });
  process.stdin.resume();
}

if (process.argv[1]?.endsWith('round-clients.ts') || process.argv[1]?.endsWith('round-clients.js')) {
  main().catch((e: unknown) => {
    process.stderr.write(`bench:round clients failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  });
}
