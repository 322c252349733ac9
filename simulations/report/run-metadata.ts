import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** What produced a report, so a number in it can be traced back to code, runtime and invocation. */
export interface RunMetadata {
  fedprofileVersion: string;
  /** Git commit of the working tree, null outside a checkout; `dirty` when it had uncommitted changes. */
  commit: string | null;
  dirty: boolean | null;
  node: string;
  platform: string;
  /** ISO 8601 start time. */
  date: string;
  /** The command line as typed (program name and arguments). */
  command: string;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 }).trim();
  } catch {
    return null;
  }
}

/** Quotes an argument only when the shell would split or expand it. */
const shellWord = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

export function commandLine(argv: readonly string[] = process.argv): string {
  // argv[0] is node and argv[1] the launcher script: show the launcher's name, as the user typed it.
  const [, script, ...args] = argv;
  const program = script ? script.replace(/^.*[\\/]/, '').replace(/\.(js|ts)$/, '') : 'node';
  return [program === 'cli' || program === 'fedprofile' ? 'fedprofile' : program, ...args].map(shellWord).join(' ');
}

export function collectRunMetadata(opts: { command?: string; now?: Date } = {}): RunMetadata {
  const pkg = JSON.parse(readFileSync(new URL('package.json', `file://${ROOT}`), 'utf8')) as { version: string };
  const commit = git(['rev-parse', 'HEAD']);
  const status = commit === null ? null : git(['status', '--porcelain', '--untracked-files=no']);
  return {
    fedprofileVersion: pkg.version, commit, dirty: status === null ? null : status.length > 0,
    node: process.version, platform: `${process.platform}-${process.arch}`,
    date: (opts.now ?? new Date()).toISOString(), command: opts.command ?? commandLine(),
  };
}

/** The report's "Run" section. */
export function runMetadataMarkdown(m: RunMetadata): string[] {
  const commit = m.commit === null ? 'n/a (not a git checkout)' : `\`${m.commit}\`${m.dirty ? ' (with uncommitted changes)' : ''}`;
  return [
    '## Run', '',
    `- fedprofile ${m.fedprofileVersion}, commit ${commit}`,
    `- Node.js ${m.node} on ${m.platform}`,
    `- started ${m.date}`,
    `- command: \`${m.command}\``, '',
  ];
}
