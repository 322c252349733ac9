import { CommanderError } from 'commander';
import { isFedProfileError, type ErrorCode } from '../errors.js';

/**
 * How every `fedprofile` subcommand reports a failure: one line on stderr, `fedprofile: <what> [CODE]`, and an
 * exit code scripts can branch on: 2 when the command line, a config or an input file is wrong (fix it and
 * run again), 1 when something failed at run time.
 */
export const EXIT_USAGE = 2;
export const EXIT_RUNTIME = 1;

const USAGE_CODES: ReadonlySet<ErrorCode> = new Set(['BAD_INPUT', 'BAD_CONFIG', 'BAD_DATA_FILE', 'UNAUTHORIZED', 'FORBIDDEN']);

export interface Failure { line: string; exitCode: number }

/** Node's system errors (ENOENT, EACCES, …) carry the path and syscall that failed. */
interface SystemError extends Error { code: string; syscall?: string; path?: string }
const isSystemError = (e: unknown): e is SystemError =>
  e instanceof Error && typeof (e as Partial<SystemError>).code === 'string' && /^E[A-Z]+$/.test((e as SystemError).code);

export function describeFailure(err: unknown, opts: { debug?: boolean } = {}): Failure {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return { line: '', exitCode: 0 };
    // Help shown instead of running anything (no subcommand given): the usage is already on stderr.
    if (err.code === 'commander.help') return { line: '', exitCode: err.exitCode === 0 ? 0 : EXIT_USAGE };
    const message = err.message.replace(/^error:\s*/i, '');
    return { line: `fedprofile: ${message} (see --help)`, exitCode: EXIT_USAGE };
  }
  if (isFedProfileError(err)) {
    return { line: `fedprofile: ${err.message} [${err.code}]`, exitCode: USAGE_CODES.has(err.code) ? EXIT_USAGE : EXIT_RUNTIME };
  }
  if (isSystemError(err)) {
    const where = err.path ? ` ${err.path}` : '';
    return { line: `fedprofile: cannot ${err.syscall ?? 'access'}${where}: ${err.code} [IO]`, exitCode: EXIT_RUNTIME };
  }
  const detail = err instanceof Error ? (opts.debug ? err.stack ?? err.message : err.message) : String(err);
  const hint = opts.debug ? '' : ' (set FEDPROFILE_DEBUG=1 for the stack trace)';
  return { line: `fedprofile: unexpected failure: ${detail.replace(/\n(?!\s+at )/g, ' ')}${hint} [INTERNAL]`, exitCode: EXIT_RUNTIME };
}
