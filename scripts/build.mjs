// Builds dist/: JavaScript + .d.ts from the TypeScript sources (tsconfig.build.json), plus the dashboard's
// static files. `--if-typescript` (used by `prepare`) skips quietly where dev dependencies are not installed,
// e.g. `npm ci --omit=dev` in a container that runs the sources through tsx.
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  if (process.argv.includes('--if-typescript')) process.exit(0);
  process.stderr.write('build: typescript is not installed (npm install, with dev dependencies)\n');
  process.exit(2);
}
const root = new URL('..', import.meta.url);
rmSync(new URL('dist', root), { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
cpSync(new URL('coordinator/dashboard/public', root), new URL('dist/coordinator/dashboard/public', root), { recursive: true });
