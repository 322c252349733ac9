import { closeSync, createReadStream, openSync, readSync, statSync, type Stats } from 'node:fs';
import { createInterface } from 'node:readline';
import { DataFileError } from '../../errors.js';

/** How much of the start of a file is checked for binary content (NUL bytes, invalid UTF-8). */
const SNIFF_BYTES = 1024;
/** How much is read up front to find the header line. */
const HEAD_BYTES = 64 * 1024;

export interface FileHead {
  /** First non-blank line, BOM stripped; '' when the file has none. */
  firstLine: string;
}

function statOrThrow(path: string): Stats {
  try {
    return statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataFileError(path, 'no such file or folder; check the path and try again');
    if (code === 'EACCES') throw new DataFileError(path, 'permission denied; make the file readable for this user');
    throw new DataFileError(path, `cannot be opened (${code ?? 'unknown error'})`);
  }
}

/** Throws one DataFileError when the path does not exist; otherwise tells whether it is a folder. */
export function isDirectory(path: string): boolean {
  return statOrThrow(path).isDirectory();
}

/**
 * Checks a data file before streaming it, synchronously so bad files fail at open time, not half-way through
 * a training job: it must exist, be a regular file, be non-empty and look like UTF-8 text.
 */
export function checkTextFile(path: string): FileHead {
  const stats = statOrThrow(path);
  if (stats.isDirectory()) throw new DataFileError(path, 'is a folder, expected a file; pass the data file inside it');
  if (stats.size === 0) throw new DataFileError(path, 'is empty (0 bytes); export the data again or pick another file');
  const fd = openSync(path, 'r');
  let head: Buffer;
  try {
    const buf = Buffer.alloc(Math.min(HEAD_BYTES, stats.size));
    const n = readSync(fd, buf, 0, buf.length, 0);
    head = buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
  const sniff = head.subarray(0, SNIFF_BYTES);
  if (sniff.includes(0)) {
    throw new DataFileError(path, 'looks binary (contains NUL bytes); expected a UTF-8 text file such as CSV or JSONL (is it compressed? unzip it first)');
  }
  try {
    // stream: true tolerates a multi-byte character cut at the end of the sniffed block.
    new TextDecoder('utf-8', { fatal: true }).decode(sniff, { stream: true });
  } catch {
    throw new DataFileError(path, 'is not valid UTF-8 text in its first kilobyte; re-export it as UTF-8 CSV or JSONL');
  }
  const text = head.toString('utf8').replace(/^\uFEFF/, '');
  const firstLine = text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  if (firstLine === '') throw new DataFileError(path, 'contains only blank lines; export the data again or pick another file');
  return { firstLine: firstLine.replace(/\r$/, '') };
}

/** One physical line with its 1-based number; blank lines are skipped but still counted in numbering. */
export interface NumberedLine {
  line: string;
  lineNo: number;
}

/** Streams a text file line by line (readline over a read stream), so memory does not grow with file size. */
export async function* readLines(path: string): AsyncGenerator<NumberedLine> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const raw of rl) {
      lineNo++;
      const line = lineNo === 1 ? raw.replace(/^\uFEFF/, '') : raw;
      if (line.trim() === '') continue;
      yield { line, lineNo };
    }
  } catch (e) {
    throw new DataFileError(path, `could not be read to the end (${(e as Error).message})`);
  } finally {
    rl.close();
    stream.destroy();
  }
}
