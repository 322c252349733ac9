import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../../simulations/config.js';
import { tinyExperiment } from '../simulations/fixtures.js';

const BIN = join(process.cwd(), 'bin/fedprofile.js');

interface Run { status: number | null; stdout: string; stderr: string; ms: number }

function fedprofile(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FEDPROFILE_')));
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...clean, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr, ms: performance.now() - t0 }));
  });
}

/** Exactly one line on stderr, in the shared format. */
function oneLine(r: Run): string {
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).to.have.length(1);
  expect(lines[0]).to.match(/^fedprofile: /);
  expect(r.stderr).to.not.contain('    at ');
  return lines[0]!;
}

describe('fedprofile CLI: failures speak, with one format and exit codes', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'fp-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('names the missing flag instead of exiting silently (issue item 1)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['coordinator', '--data-dir', join(dir, 'd')], /--admin-token \(or FEDPROFILE_ADMIN_TOKEN\) is required.*\[BAD_CONFIG\]$/],
      [['coordinator', '--data-dir', join(dir, 'd'), '--admin-token', 'x'.repeat(20), '--tls-cert', 'c.pem'], /--tls-cert and --tls-key go together: --tls-key is missing/],
      [['client', '--coordinator', 'http://127.0.0.1:9', '--data', 'e.jsonl', '--hash-key', 'k'.repeat(10)], /--token \(or FEDPROFILE_TOKEN\) is required/],
      [['client', '--coordinator', 'http://127.0.0.1:9', '--data', 'e.jsonl', '--token', 't'.repeat(10)], /--hash-key \(or FEDPROFILE_HASH_KEY\) is required/],
    ];
    const runs = await Promise.all(cases.map(([args]) => fedprofile(args)));
    runs.forEach((r, i) => {
      expect(r.status, cases[i]![0].join(' ')).to.equal(2);
      expect(oneLine(r)).to.match(cases[i]![1]);
    });
  });

  it('usage errors exit 2 with one line; help and version exit 0', async () => {
    const [unknown, missing, badPort, help] = await Promise.all([
      fedprofile(['bogus']), fedprofile(['simulate']), fedprofile(['coordinator', '--data-dir', dir, '--port', 'x']), fedprofile(['client', '--help']),
    ]);
    expect(unknown.status).to.equal(2);
    expect(oneLine(unknown)).to.equal("fedprofile: unknown command 'bogus' (see --help)");
    expect(missing.status).to.equal(2);
    expect(oneLine(missing)).to.contain("required option '-c, --config <file>' not specified");
    expect(badPort.status).to.equal(2);
    expect(oneLine(badPort)).to.contain('expected a port number 0-65535');
    expect(help.status).to.equal(0);
    expect(help.stdout).to.contain('--hash-key');
    const bare = await fedprofile([]);
    expect(bare.status, 'no subcommand is a usage error').to.equal(2);
    expect(bare.stderr).to.contain('Usage: fedprofile');
  });

  it('a bad --out path is one line naming the flag and the path, exit 2 (issue item 13)', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const [sim, gen] = await Promise.all([
      fedprofile(['simulate', '--config', 'simulations/experiments/demo-sim.json', '--out', join(file, 'run')]),
      fedprofile(['data', 'generate', '--out', file, '--users', '5']),
    ]);
    expect(sim.status).to.equal(2);
    expect(oneLine(sim)).to.equal(`fedprofile: --out ${join(file, 'run')}: cannot write an output folder there (a file is in the way) [BAD_CONFIG]`);
    expect(gen.status).to.equal(2);
    expect(oneLine(gen)).to.contain(`--out ${file}: cannot write an output folder there`);
  });

  it('a bad data file reads the same from every subcommand, exit 2', async () => {
    const empty = join(dir, 'empty.csv');
    writeFileSync(empty, '');
    const expected = `fedprofile: ${empty}: is empty (0 bytes); export the data again or pick another file [BAD_DATA_FILE]`;
    const [inspect, client] = await Promise.all([
      fedprofile(['data', 'inspect', empty]),
      fedprofile(['client', '--coordinator', 'http://127.0.0.1:9', '--data', empty, '--token', 't'.repeat(10), '--hash-key', 'k'.repeat(10), '--work-dir', join(dir, 'w')]),
    ]);
    for (const r of [inspect, client]) {
      expect(r.status).to.equal(2);
      expect(oneLine(r)).to.equal(expected);
    }
  });

  it('a failure at run time exits 1 with one line', async () => {
    const events = join(dir, 'ev.jsonl');
    writeFileSync(events, '{"userId":"u","timestamp":1,"itemId":"i","categoryId":"c","action":"view"}\n');
    const r = await fedprofile(['serve', '--data', events, '--hash-key', 'k'.repeat(10), '--service-token', 's'.repeat(20),
      '--coordinator', 'http://127.0.0.1:9', '--token', 't'.repeat(10)]);
    expect(r.status).to.equal(1);
    expect(oneLine(r)).to.match(/^fedprofile: cannot read the federation|^fedprofile: cannot reach the coordinator at http:\/\/127\.0\.0\.1:9/);
  });

  it('--version answers in under 300 ms (issue item 13)', async () => {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await fedprofile(['--version']);
      expect(r.status).to.equal(0);
      expect(r.stdout.trim()).to.equal('0.1.0');
      times.push(r.ms);
    }
    expect(Math.min(...times)).to.be.below(300);
  });

  it('simulate --help says exactly what is bit-identical, and simulate runs fedyogi', () => {
    const r = spawnSync(process.execPath, [BIN, 'simulate', '--help'], { encoding: 'utf8' });
    expect(r.stdout).to.not.contain('with or without secure aggregation');
    expect(r.stdout).to.contain('identical metrics.jsonl');
    expect(r.stdout).to.contain('It does NOT\nhold across backends');
    expect(r.stdout).to.contain('fedyogi');
    const cfg = parseSimulationConfig({ ...tinyExperiment, strategies: [{ name: 'fedyogi' }] });
    expect(cfg.strategies[0]).to.deep.equal({ name: 'fedyogi', serverLearningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
  });
});
