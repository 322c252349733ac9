import { existsSync, readdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { DataFileError } from '../../errors.js';
import type { BehaviourEvent } from '../events.js';
import { indexColumns, splitCsvLine } from './csv.js';
import { checkTextFile, isDirectory } from './file.js';
import { REQUIRED_COLUMNS, checkGenericCsvHeader, readGenericCsv, readJsonl } from './generic.js';
import { checkMovieLensHeaders, readMovieLens, resolveMovieLens } from './movielens.js';
import { ReportBuilder, type ReadReport, type SourceFormat } from './report.js';
import { checkRetailRocketFiles, looksLikeRetailRocketHeader, readRetailRocket } from './retailrocket.js';
import { checkTaobaoFirstLine, looksLikeTaobaoLine, readTaobao } from './taobao.js';

export type { DropTally, ReadReport, SourceFormat } from './report.js';
export { ratingToAction } from './movielens.js';
export { toMillis } from './timestamp.js';

export interface EventSource {
  /** A file, or a folder: MovieLens (ratings.csv + movies.csv), RetailRocket (events.csv [+ item_properties*.csv]) or Taobao (UserBehavior.csv). */
  path: string;
  format?: 'auto' | SourceFormat;
  /** RetailRocket only: item_properties*.csv files for categories; found automatically next to a folder's events.csv. */
  itemProperties?: string[];
  /** Stamped on events that carry no merchantId of their own. */
  merchantId?: string;
}

/**
 * A lazily read stream of events. Bad files (missing, empty, binary, wrong columns) throw one DataFileError
 * when `readEvents` is called; malformed rows are dropped and counted in `report()` while iterating.
 * Iterating again re-reads the file and starts a fresh report.
 */
export interface EventStream extends AsyncIterable<BehaviourEvent> {
  readonly path: string;
  readonly format: SourceFormat;
  report(): ReadReport;
}

interface Plan {
  format: SourceFormat;
  /** The file line numbers in the report refer to. */
  file: string;
  open(report: ReportBuilder): AsyncGenerator<BehaviourEvent>;
}

const MOVIELENS_RATINGS_COLUMNS = ['userId', 'movieId', 'rating'] as const;

function looksLikeMovieLensRatings(line: string): boolean {
  const idx = indexColumns(splitCsvLine(line) ?? [], MOVIELENS_RATINGS_COLUMNS);
  return MOVIELENS_RATINGS_COLUMNS.every((c) => idx[c] >= 0);
}

function looksLikeGenericCsv(line: string): boolean {
  const idx = indexColumns(splitCsvLine(line) ?? [], REQUIRED_COLUMNS);
  return REQUIRED_COLUMNS.every((c) => idx[c] >= 0);
}

function detectFolderFormat(dir: string): SourceFormat {
  if (existsSync(join(dir, 'ratings.csv'))) return 'movielens';
  if (existsSync(join(dir, 'events.csv'))) return 'retailrocket';
  if (existsSync(join(dir, 'UserBehavior.csv'))) return 'taobao';
  throw new DataFileError(dir, 'is a folder with no recognised data set: expected ratings.csv + movies.csv (MovieLens), events.csv (RetailRocket) or UserBehavior.csv (Taobao); pass a file path for JSONL/CSV events');
}

function detectFileFormat(path: string, firstLine: string): SourceFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson' || firstLine.trimStart().startsWith('{')) return 'jsonl';
  if (looksLikeRetailRocketHeader(firstLine)) return 'retailrocket';
  if (looksLikeMovieLensRatings(firstLine)) return 'movielens';
  if (basename(path) === 'UserBehavior.csv' || looksLikeTaobaoLine(firstLine)) return 'taobao';
  if (looksLikeGenericCsv(firstLine) || ext === '.csv' || ext === '.txt') return 'csv';
  throw new DataFileError(path, `format not recognised (first line: ${firstLine.slice(0, 120)}); pass format jsonl, csv, movielens, retailrocket or taobao`);
}

function itemPropertyFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => /^item_properties.*\.csv$/i.test(f)).sort().map((f) => join(dir, f));
}

/** Resolves format and files and runs every up-front check, so a bad source fails before any row is read. */
function plan(source: EventSource): Plan {
  const { path } = source;
  const dir = isDirectory(path);
  const requested = source.format ?? 'auto';
  const format: SourceFormat = requested !== 'auto' ? requested : dir ? detectFolderFormat(path) : detectFileFormat(path, checkTextFile(path).firstLine);

  switch (format) {
    case 'movielens': {
      const paths = resolveMovieLens(path, dir);
      checkMovieLensHeaders(paths);
      return { format, file: paths.ratings, open: (r) => readMovieLens(paths, r) };
    }
    case 'retailrocket': {
      const eventsPath = dir ? join(path, 'events.csv') : path;
      if (dir && !existsSync(eventsPath)) throw new DataFileError(path, 'has no events.csv; point at the RetailRocket folder or its events.csv');
      const props = source.itemProperties ?? (dir ? itemPropertyFiles(path) : []);
      checkRetailRocketFiles(eventsPath, props);
      return { format, file: eventsPath, open: (r) => readRetailRocket(eventsPath, props, r) };
    }
    case 'taobao': {
      const file = dir ? join(path, 'UserBehavior.csv') : path;
      checkTaobaoFirstLine(file, checkTextFile(file).firstLine);
      return { format, file, open: (r) => readTaobao(file, r) };
    }
    case 'jsonl': {
      if (dir) throw new DataFileError(path, 'is a folder; JSONL events must be a single file');
      const first = checkTextFile(path).firstLine;
      let parsed: unknown;
      try {
        parsed = JSON.parse(first);
      } catch {
        parsed = undefined;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new DataFileError(path, 'is not JSONL: the first line is not a JSON object; write one event object per line or pass format csv');
      }
      return { format, file: path, open: (r) => readJsonl(path, r) };
    }
    case 'csv': {
      if (dir) throw new DataFileError(path, 'is a folder; CSV events must be a single file');
      checkGenericCsvHeader(path, checkTextFile(path).firstLine);
      return { format, file: path, open: (r) => readGenericCsv(path, r) };
    }
  }
}

export function readEvents(source: EventSource): EventStream {
  const p = plan(source);
  let builder = new ReportBuilder(p.file, p.format);
  const merchantId = source.merchantId;
  return {
    path: source.path,
    format: p.format,
    report: () => builder.snapshot(),
    async *[Symbol.asyncIterator]() {
      builder = new ReportBuilder(p.file, p.format);
      for await (const e of p.open(builder)) {
        if (merchantId !== undefined && e.merchantId === undefined) e.merchantId = merchantId;
        yield e;
      }
    },
  };
}

/** Reads a whole source into memory: convenient for fixtures, simulations and modest files. */
export async function readAllEvents(source: EventSource): Promise<{ events: BehaviourEvent[]; report: ReadReport }> {
  const stream = readEvents(source);
  const events: BehaviourEvent[] = [];
  for await (const e of stream) events.push(e);
  return { events, report: stream.report() };
}
