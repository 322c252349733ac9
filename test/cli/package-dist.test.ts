import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Pkg { exports: Record<string, string | { types: string; import: string }>; scripts: Record<string, string>; files: string[] }
const root = process.cwd();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Pkg;

describe('the package builds to JavaScript with type declarations (issue item 8)', function () {
  this.timeout(30_000);

  it('exports point at built .js and .d.ts under dist/, each built from a source file', () => {
    const build = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
    expect(build.compilerOptions).to.include({ outDir: 'dist', rootDir: '.', declaration: true, noEmit: false });
    for (const sub of ['./client-sdk', './shared']) {
      const e = pkg.exports[sub] as { types: string; import: string };
      expect(e.import, sub).to.match(/^\.\/dist\/.+\.js$/);
      expect(e.types, sub).to.equal(e.import.replace(/\.js$/, '.d.ts'));
      expect(existsSync(join(root, e.import.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'))), e.import).to.equal(true);
    }
    expect(pkg.scripts.build).to.equal('node scripts/build.mjs');
    expect(pkg.scripts.prepare).to.contain('scripts/build.mjs');
    expect(pkg.files).to.include('dist');
  });

  it('imports under plain Node, without tsx, once built', function () {
    if (!existsSync(join(root, 'dist/client-sdk/index.js'))) this.skip(); // `npm install` / `npm run build` makes it
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', [
      "const sdk = await import('fedprofile/client-sdk');",
      "const shared = await import('fedprofile/shared');",
      'console.log(typeof sdk.FederatedClient, typeof sdk.LocalProfiler, Object.keys(shared).length > 0);',
    ].join('\n')], { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(r.stderr).to.equal('');
    expect(r.stdout.trim()).to.equal('function function true');
    expect(existsSync(join(root, 'dist/client-sdk/index.d.ts'))).to.equal(true);
  });
});
