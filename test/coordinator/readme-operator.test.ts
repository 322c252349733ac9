import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { RunningCoordinator } from '../../coordinator/server.js';
import { ADMIN, api, rawSocket, removeDir, startTestCoordinator, tempDir, waitFor } from '../runtime/fixtures/harness.js';

const run = promisify(execFile);

/** The README's operator block: the fenced bash block that creates the federation. */
function operatorBlock(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Operators: run a coordinator'), readme.indexOf('## Merchants: run a client node'));
  const block = [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('/federations'));
  if (!block) throw new Error('README operator section has no bash block that creates a federation');
  return block;
}

describe('README operator example, run as written against a loopback coordinator', function () {
  this.timeout(60_000);
  let dir: string;
  let coord: RunningCoordinator;
  before(async () => { dir = tempDir('readme'); coord = await startTestCoordinator(dir); });
  after(async () => { await coord.close(); removeDir(dir); });

  it('sets $FED, issues a token per merchant, starts, says what it waits for, and runs once those merchants connect', async () => {
    const block = operatorBlock();
    expect(block).to.match(/^COORDINATOR=\S+$/m);
    // Only the coordinator's address changes; everything else runs as printed.
    const script = `set -euo pipefail\n${block.replace(/^COORDINATOR=\S+$/m, `COORDINATOR=${coord.url}`)}\necho "FED=$FED"\n`;
    const { stdout } = await run('bash', ['-c', script], { env: { ...process.env, FEDPROFILE_ADMIN_TOKEN: ADMIN }, timeout: 45_000 });
    const lines = stdout.trim().split('\n');
    const fed = /^FED=(fed_\w+)$/.exec(lines.at(-1)!)?.[1];
    expect(fed, stdout).to.be.a('string');
    const tokens = lines.filter((l) => /^merchant-\w+ {2}fpt_/.test(l)).map((l) => l.split(/\s+/)[1]!);
    expect(lines.slice(-3, -1), stdout).to.deep.equal(['running', `waiting for ${tokens.length} clients, 0 online`]);
    const described = (await api(coord.url, 'GET', `/federations/${fed}`)).json;
    expect(described.status).to.equal('running');
    expect(described.config.secureAggregation, 'the example shows SecAgg+').to.be.an('object');
    // The federation can actually run with the merchants the example enrols: connect them and a round starts.
    const sockets = [];
    for (const t of tokens) sockets.push(await rawSocket(coord.url, t));
    try {
      const live = await waitFor('round 1 to start', async () => {
        const l = (await api(coord.url, 'GET', `/federations/${fed}`)).json.live;
        return l.round === 1 ? l : undefined;
      });
      expect(live.waiting).to.equal(undefined);
      expect(live.online).to.equal(tokens.length);
      expect((await api(coord.url, 'GET', `/federations/${fed}/rounds/1`)).json.participants).to.have.length(tokens.length);
    } finally {
      for (const s of sockets) s.close();
    }
  });
});
