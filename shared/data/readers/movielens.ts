import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DataFileError } from '../../errors.js';
import type { Action, BehaviourEvent } from '../events.js';
import { indexColumns, splitCsvLine } from './csv.js';
import { checkTextFile, readLines } from './file.js';
import type { ReportBuilder } from './report.js';
import { secondsToMillis } from './timestamp.js';

/**
 * MovieLens has explicit ratings, not behaviour. A rating is mapped to how far down the e-commerce funnel the
 * same enthusiasm would have gone: 5 → purchase, 4–4.5 → cart, 3–3.5 → click, 0.5–2.5 → view (the user still
 * saw the movie, so it is exposure, but no positive signal). The first listed genre is the category and the
 * title is the event text, so the text field has something to learn from.
 */
export function ratingToAction(rating: number): Action {
  if (rating >= 5) return 'purchase';
  if (rating >= 4) return 'cart';
  if (rating >= 3) return 'click';
  return 'view';
}

export interface MovieLensPaths {
  ratings: string;
  movies: string;
}

const RATINGS_COLUMNS = ['userId', 'movieId', 'rating', 'timestamp'] as const;
const MOVIES_COLUMNS = ['movieId', 'title', 'genres'] as const;

/** Resolves a MovieLens folder or its ratings.csv to both files; movies.csv is required (it holds the genres). */
export function resolveMovieLens(path: string, isDir: boolean): MovieLensPaths {
  const ratings = isDir ? join(path, 'ratings.csv') : path;
  const movies = join(isDir ? path : dirname(path), 'movies.csv');
  if (!existsSync(ratings)) {
    throw new DataFileError(path, 'is treated as a MovieLens folder but has no ratings.csv; point at the folder that holds ratings.csv and movies.csv');
  }
  if (!existsSync(movies)) {
    throw new DataFileError(movies, 'is missing: MovieLens needs movies.csv (movieId,title,genres) next to ratings.csv for the categories; copy it from the same MovieLens download');
  }
  return { ratings, movies };
}

export function checkMovieLensHeaders(paths: MovieLensPaths): void {
  checkHeader(paths.ratings, checkTextFile(paths.ratings).firstLine, RATINGS_COLUMNS);
  checkHeader(paths.movies, checkTextFile(paths.movies).firstLine, MOVIES_COLUMNS);
}

function checkHeader<K extends string>(path: string, line: string, wanted: readonly K[]): Record<K, number> {
  const header = splitCsvLine(line) ?? [];
  const idx = indexColumns(header, wanted);
  const missing = wanted.filter((c) => idx[c] < 0);
  if (missing.length > 0) {
    throw new DataFileError(
      path,
      `missing MovieLens column(s) ${missing.join(', ')} (found: ${header.join(', ')}); expected the header ${wanted.join(',')}`,
    );
  }
  return idx;
}

interface Movie {
  genre: string;
  title: string;
}

async function loadMovies(path: string, report: ReportBuilder): Promise<Map<string, Movie>> {
  const movies = new Map<string, Movie>();
  let idx: Record<(typeof MOVIES_COLUMNS)[number], number> | null = null;
  for await (const { line } of readLines(path)) {
    if (idx === null) {
      idx = checkHeader(path, line, MOVIES_COLUMNS);
      continue;
    }
    const cells = splitCsvLine(line);
    const id = cells?.[idx.movieId]?.trim();
    if (!cells || !id) {
      report.warn('malformed movies.csv row skipped');
      continue;
    }
    const firstGenre = (cells[idx.genres] ?? '').split('|')[0].trim();
    const genre = firstGenre === '' || firstGenre === '(no genres listed)' ? 'unknown' : firstGenre;
    movies.set(id, { genre, title: (cells[idx.title] ?? '').trim() });
  }
  return movies;
}

export async function* readMovieLens(paths: MovieLensPaths, report: ReportBuilder): AsyncGenerator<BehaviourEvent> {
  const movies = await loadMovies(paths.movies, report);
  let idx: Record<(typeof RATINGS_COLUMNS)[number], number> | null = null;
  for await (const { line, lineNo } of readLines(paths.ratings)) {
    if (idx === null) {
      idx = checkHeader(paths.ratings, line, RATINGS_COLUMNS);
      continue;
    }
    report.row();
    const cells = line.split(',');
    if (cells.length < 4) {
      report.drop('wrong number of columns', lineNo);
      continue;
    }
    const userId = cells[idx.userId].trim();
    const movieId = cells[idx.movieId].trim();
    if (!userId) { report.drop('missing userId', lineNo); continue; }
    if (!movieId) { report.drop('missing movieId', lineNo); continue; }
    const rating = Number(cells[idx.rating]);
    if (!Number.isFinite(rating) || rating < 0 || rating > 5 || cells[idx.rating].trim() === '') {
      report.drop('invalid rating', lineNo);
      continue;
    }
    const timestamp = secondsToMillis(cells[idx.timestamp]);
    if (timestamp === null) { report.drop('invalid timestamp', lineNo); continue; }
    const movie = movies.get(movieId);
    if (!movie) report.warn('movieId not in movies.csv (category "unknown")');
    const action = ratingToAction(rating);
    const event: BehaviourEvent = { userId, timestamp, itemId: movieId, categoryId: movie?.genre ?? 'unknown', action };
    if (movie?.title) event.text = movie.title;
    report.keep(userId, action);
    yield event;
  }
}
