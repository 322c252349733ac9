import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { dataCommand } from '../../simulations/data-cli.js';
import { readTaxonomy } from '../../client-sdk/taxonomy.js';
import { createHasher } from '../../shared/data/hashing.js';

/** Runs the data command in-process and returns what it printed. */
async function run(args: string[]): Promise<{ out: string; err: string; exitCode: number | undefined }> {
  const cmd = dataCommand();
  const captured = { out: '', err: '' };
  const configure = (c: Command): void => {
    c.exitOverride().configureOutput({ writeOut: (s) => (captured.out += s), writeErr: (s) => (captured.err += s) });
    c.commands.forEach(configure);
  };
  configure(cmd);
  const origOut = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  const before = process.exitCode;
  process.stdout.write = ((s: string) => ((captured.out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((captured.err += s), true)) as typeof process.stderr.write;
  let exitCode: number | undefined;
  try {
    await cmd.parseAsync(args, { from: 'user' });
    exitCode = process.exitCode === undefined ? undefined : Number(process.exitCode);
  } catch (e) {
    exitCode = (e as { exitCode?: number }).exitCode;
  } finally {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
    process.exitCode = before;
  }
  return { ...captured, exitCode };
}

describe('data CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedprofile-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('generate writes the files and prints a summary', async () => {
    const out = join(dir, 'synth');
    const r = await run(['generate', '--out', out, '--users', '40', '--merchants', '2', '--seed', '9']);
    expect(r.exitCode).to.equal(undefined);
    const summary = JSON.parse(r.out) as { events: number; users: number };
    expect(summary.users).to.equal(40);
    expect(summary.events).to.be.above(100);
    expect(existsSync(join(out, 'events.jsonl'))).to.equal(true);
    expect(existsSync(join(out, 'truth.json'))).to.equal(true);
  });

  it('generate --merchants N writes one events file per merchant and a taxonomy --categories accepts (issue item 6)', async () => {
    const out = join(dir, 'synth-m');
    const r = await run(['generate', '--out', out, '--users', '30', '--merchants', '3', '--categories', '5', '--seed', '4']);
    const summary = JSON.parse(r.out) as { events: number; merchantEventsPaths: Record<string, string>; taxonomyPath: string };
    expect(Object.keys(summary.merchantEventsPaths)).to.deep.equal(['m1', 'm2', 'm3']);
    const perMerchant = Object.entries(summary.merchantEventsPaths).map(([m, p]) => {
      const lines = readFileSync(p, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { merchantId: string; userId: string });
      expect(new Set(lines.map((l) => l.merchantId))).to.deep.equal(new Set([m]));
      return lines;
    });
    // Nothing lost or duplicated: the merchants' files add up to the combined log, with disjoint users.
    expect(perMerchant.reduce((n, l) => n + l.length, 0)).to.equal(summary.events);
    const userSets = perMerchant.map((l) => new Set(l.map((e) => e.userId)));
    expect(userSets.reduce((n, u) => n + u.size, 0)).to.equal(new Set(perMerchant.flat().map((e) => e.userId)).size);
    const taxonomy = readTaxonomy(summary.taxonomyPath);
    expect(taxonomy).to.have.length(5);
    expect(() => readTaxonomy(join(out, 'catalogue.json'))).to.throw(/non-empty JSON array of category id strings/);
    // The taxonomy gives every category its own row when the vocabulary is big enough, and is refused otherwise.
    const ids = taxonomy.map((c) => createHasher({ key: 'k'.repeat(8), itemVocab: 64, categoryVocab: 6, textVocab: 0, knownCategories: taxonomy }).category(c));
    expect(new Set(ids).size).to.equal(5);
    expect(() => createHasher({ key: 'k'.repeat(8), itemVocab: 64, categoryVocab: 5, textVocab: 0, knownCategories: taxonomy }))
      .to.throw(/taxonomy lists 5 categories but the model's categoryVocab 5 has only 4 category slots; raise model.categoryVocab to at least 6/);
  });

  it('inspect prints rows, users, actions and dropped rows by reason with line numbers', async () => {
    const p = join(dir, 'mixed.jsonl');
    writeFileSync(p, [
      '{"userId":"a","timestamp":1,"itemId":"i","categoryId":"c","action":"view"}',
      '{"userId":"b","timestamp":2,"itemId":"i","categoryId":"c","action":"cart"}',
      'garbage',
      '{"userId":"b","timestamp":2,"itemId":"i","categoryId":"c","action":"fly"}',
    ].join('\n'));
    const r = await run(['inspect', p]);
    expect(r.out).to.contain('rows:    4 read, 2 kept, 2 dropped');
    expect(r.out).to.contain('users:   2');
    expect(r.out).to.contain('actions: view=1 cart=1');
    expect(r.out).to.contain('invalid JSON: 1 (first at line 3)');
    expect(r.out).to.contain('unknown action: 1 (first at line 4)');
    const json = await run(['inspect', p, '--json']);
    expect(JSON.parse(json.out).dropped).to.equal(2);
  });

  it('a bad file is refused with the reader\'s error, for the CLI to print as one line', async () => {
    const p = join(dir, 'empty.csv');
    writeFileSync(p, '');
    let caught: unknown;
    try {
      await dataCommand().exitOverride().parseAsync(['inspect', p], { from: 'user' });
    } catch (e) {
      caught = e;
    }
    expect((caught as { code?: string }).code).to.equal('BAD_DATA_FILE');
    expect((caught as Error).message).to.equal(`${p}: is empty (0 bytes); export the data again or pick another file`);
  });

  it('every command explains its options in --help', async () => {
    for (const args of [['--help'], ['generate', '--help'], ['inspect', '--help']]) {
      const r = await run(args);
      expect(r.out).to.contain('Usage:');
    }
    const gen = await run(['generate', '--help']);
    for (const opt of ['--out', '--users', '--merchants', '--seed', '--merchant-alpha']) expect(gen.out).to.contain(opt);
    expect((await run(['inspect', '--help'])).out).to.contain('--format');
    const bad = await run(['generate', '--out', dir, '--users', 'many']);
    expect(bad.err).to.contain('expected an integer >= 1');
  });

  it('runs as a real process without a stack trace on bad input', function () {
    this.timeout(30_000);
    const bin = join(process.cwd(), 'bin/fedprofile.js');
    const r = spawnSync(process.execPath, [bin, 'data', 'inspect', join(dir, 'missing.csv')], { encoding: 'utf8' });
    expect(r.status).to.equal(2);
    expect(r.stderr.trim()).to.equal(`fedprofile: ${join(dir, 'missing.csv')}: no such file or folder; check the path and try again [BAD_DATA_FILE]`);
    expect(execFileSync(process.execPath, [bin, 'data', 'inspect', '--help'], { encoding: 'utf8' })).to.contain('--format');
  });
});
