import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts the worker-thread entry `<name>.js` (from a build) or `<name>.ts` (from sources) that sits beside
 * the module `callerUrl` (pass import.meta.url): the one bootstrap for every worker thread of the project.
 * Node 20 will not start a worker from a .ts entry whatever loader flags it gets (`--import tsx` does not
 * reach worker threads), so from sources a one-line ESM module registers tsx's loader inside the worker
 * and then imports the entry.
 */
export function spawnWorker(callerUrl: string, name: string, options: WorkerOptions = {}): Worker {
  const fromSources = new URL(callerUrl).pathname.endsWith('.ts');
  if (!fromSources) return new Worker(new URL(`./${name}.js`, callerUrl), options);
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  // The ESM build of tsx's API, found from its package.json (require.resolve would pick the CommonJS one,
  // and import.meta.resolve is not there when this module itself runs through tsx's CommonJS hook).
  const tsxRoot = dirname(createRequire(callerUrl).resolve('tsx/package.json'));
  const api = pathToFileURL(join(tsxRoot, 'dist/esm/api/index.mjs')).href;
  const bootstrap = `import { register } from ${JSON.stringify(api)}; register(); await import(${JSON.stringify(entry)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), options);
}
