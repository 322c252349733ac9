import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.js';

const reason = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'a file is in the way';
  if (code === 'EROFS') return 'read-only file system';
  return code ?? (e instanceof Error ? e.message : String(e));
};

/** Creates `dir` (and parents) for output, or refuses with a ConfigError naming the flag and the path. */
export function ensureOutputDir(dir: string, flag = '--out'): string {
  const abs = resolve(dir);
  try {
    mkdirSync(abs, { recursive: true });
    if (!statSync(abs).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    accessSync(abs, constants.W_OK);
  } catch (e) {
    throw new ConfigError(`${flag} ${dir}: cannot write an output folder there (${reason(e)})`, { flag, path: abs });
  }
  return abs;
}

/** Checks that the file `file` can be written (its folder is created), or refuses naming the flag. */
export function ensureOutputFile(file: string, flag = '--out'): string {
  const abs = resolve(file);
  ensureOutputDir(dirname(abs), flag);
  try {
    if (statSync(abs, { throwIfNoEntry: false })?.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
  } catch (e) {
    throw new ConfigError(`${flag} ${file}: cannot write a file there (${reason(e)})`, { flag, path: abs });
  }
  return abs;
}
