import { expect } from 'chai';
import { join } from 'node:path';
import { DataFileError } from '../../shared/errors.js';
import { readAllEvents, readEvents, type EventSource } from '../../shared/data/readers/index.js';
import { tempDir } from './fixtures.js';

/** Every bad source must fail at open time with exactly one DataFileError naming the file and the problem. */
function expectDataFileError(source: EventSource, file: string, problem: RegExp): void {
  let caught: unknown;
  try {
    readEvents(source);
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a DataFileError').to.be.instanceOf(DataFileError);
  const err = caught as DataFileError;
  expect(err.code).to.equal('BAD_DATA_FILE');
  expect(err.file).to.equal(file);
  expect(err.message.startsWith(`${file}: `), err.message).to.equal(true);
  expect(err.message).to.match(problem);
}

describe('data readers: bad files', () => {
  const tmp = tempDir('bad');
  after(() => tmp.cleanup());

  it('missing path', () => {
    const p = join(tmp.dir, 'nope.jsonl');
    expectDataFileError({ path: p }, p, /no such file/);
  });

  it('empty file (0 bytes) and blank-only file', () => {
    const empty = tmp.write('empty.csv', '');
    expectDataFileError({ path: empty }, empty, /is empty/);
    const blank = tmp.write('blank.jsonl', '\n\n   \n');
    expectDataFileError({ path: blank }, blank, /only blank lines/);
  });

  it('binary file with NUL bytes (e.g. gzip)', () => {
    const p = tmp.write('events.jsonl', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x41, 0x42]));
    expectDataFileError({ path: p }, p, /binary/);
  });

  it('invalid UTF-8 in the first kilobyte', () => {
    const p = tmp.write('latin1.csv', Buffer.concat([Buffer.from('userId,timestamp,itemId,categoryId,action\nu1,1,caf'), Buffer.from([0xe9, 0x2c, 0x63]), Buffer.from(',view\n')]));
    expectDataFileError({ path: p }, p, /not valid UTF-8/);
  });

  it('tolerates a multi-byte character cut by the 1 KB sniff window', async () => {
    const prefix = '{"userId":"u","timestamp":1,"itemId":"i","categoryId":"c","action":"search","text":"';
    const pad = 'a'.repeat(1023 - Buffer.byteLength(prefix));
    const p = tmp.write('cut.jsonl', `${prefix}${pad}é"}\n`);
    const { report } = await readAllEvents({ path: p });
    expect(report.kept).to.equal(1);
  });

  it('CSV with missing required columns lists what is missing and what was found', () => {
    const p = tmp.write('cols.csv', 'user,time,item,action\nu1,1,i1,view\n');
    expectDataFileError({ path: p, format: 'csv' }, p, /missing required column\(s\) userId, timestamp, itemId, categoryId .*found: user, time, item, action/);
  });

  it('a CSV given as JSONL', () => {
    const p = tmp.write('oops.jsonl', 'userId,timestamp,itemId,categoryId,action\n');
    expectDataFileError({ path: p }, p, /not JSONL/);
  });

  it('unrecognised content with an unknown extension', () => {
    const p = tmp.write('mystery.dat', 'hello world\n');
    expectDataFileError({ path: p }, p, /format not recognised/);
  });

  it('MovieLens folder without movies.csv names the missing movies.csv', () => {
    tmp.write('ml-nomovies/ratings.csv', 'userId,movieId,rating,timestamp\n1,2,3,4\n');
    const movies = join(tmp.dir, 'ml-nomovies', 'movies.csv');
    expectDataFileError({ path: join(tmp.dir, 'ml-nomovies') }, movies, /missing: MovieLens needs movies\.csv/);
  });

  it('MovieLens ratings with wrong columns', () => {
    tmp.write('ml-bad/ratings.csv', 'user,movie,score\n1,2,3\n');
    tmp.write('ml-bad/movies.csv', 'movieId,title,genres\n2,X,Drama\n');
    const ratings = join(tmp.dir, 'ml-bad', 'ratings.csv');
    expectDataFileError({ path: join(tmp.dir, 'ml-bad'), format: 'movielens' }, ratings, /missing MovieLens column/);
  });

  it('RetailRocket with the wrong header, Taobao with a header row', () => {
    const rr = tmp.write('rr-bad.csv', 'time,visitor,kind,item\n1,2,view,3\n');
    expectDataFileError({ path: rr, format: 'retailrocket' }, rr, /not a RetailRocket events\.csv/);
    const tb = tmp.write('tb.csv', 'user_id,item_id,category_id,behavior_type,timestamp\n1,2,3,pv,4\n');
    expectDataFileError({ path: tb, format: 'taobao' }, tb, /not a Taobao UserBehavior\.csv/);
  });

  it('a folder with nothing recognisable, and a folder given as CSV', () => {
    tmp.write('junk/readme.txt', 'hi');
    const junk = join(tmp.dir, 'junk');
    expectDataFileError({ path: junk }, junk, /no recognised data set/);
    expectDataFileError({ path: junk, format: 'csv' }, junk, /is a folder/);
  });

  it('a file whose rows are all malformed does not crash: every row is dropped and counted', async () => {
    const p = tmp.write('all-bad.csv', 'userId,timestamp,itemId,categoryId,action\n,,,,\nu,x,i,c,view\nu,1,i,c,dance\n');
    const { events, report } = await readAllEvents({ path: p });
    expect(events).to.have.length(0);
    expect(report.dropped).to.equal(3);
    expect(Object.keys(report.droppedByReason).sort()).to.deep.equal(['invalid timestamp', 'missing userId', 'unknown action']);
  });
});
