import { expect } from 'chai';
import { join } from 'node:path';
import { readAllEvents, readEvents, ratingToAction, toMillis } from '../../shared/data/readers/index.js';
import { tempDir } from './fixtures.js';

describe('data readers', () => {
  const tmp = tempDir('readers');
  after(() => tmp.cleanup());

  describe('timestamps', () => {
    it('normalises ms, seconds and ISO strings to ms', () => {
      expect(toMillis(1_700_000_000)).to.equal(1_700_000_000_000);
      expect(toMillis('1700000000.5')).to.equal(1_700_000_000_500);
      expect(toMillis(1_700_000_000_123)).to.equal(1_700_000_000_123);
      expect(toMillis('2024-01-02T03:04:05Z')).to.equal(Date.UTC(2024, 0, 2, 3, 4, 5));
      expect(toMillis('yesterday')).to.equal(null);
      expect(toMillis(-5)).to.equal(null);
      expect(toMillis('')).to.equal(null);
    });
  });

  describe('generic JSONL', () => {
    it('reads valid rows, normalises fields and counts malformed rows with line numbers', async () => {
      const path = tmp.write('events.jsonl', [
        '{"userId":"u1","timestamp":1700000000,"itemId":"i1","categoryId":"c1","action":"view","price":9.5}',
        '{"userId":2,"timestamp":"2024-01-01T00:00:00Z","itemId":"i2","categoryId":"c2","action":"SEARCH","text":"red shoes","extra":true}',
        'not json at all',
        '',
        '{"userId":"u1","timestamp":"soon","itemId":"i1","categoryId":"c1","action":"view"}',
        '[1,2,3]',
        '{"userId":"u1","timestamp":1,"itemId":"i1","categoryId":"c1","action":"wishlist"}',
        '{"userId":"u1","timestamp":1,"itemId":"i1","categoryId":"c1","action":"cart","price":-3}',
        '{"userId":"","timestamp":1,"itemId":"i1","categoryId":"c1","action":"cart"}',
        'also bad',
      ].join('\n') + '\n');
      const { events, report } = await readAllEvents({ path });
      expect(report.format).to.equal('jsonl');
      expect(events).to.deep.equal([
        { userId: 'u1', timestamp: 1_700_000_000_000, itemId: 'i1', categoryId: 'c1', action: 'view', price: 9.5 },
        { userId: '2', timestamp: Date.UTC(2024, 0, 1), itemId: 'i2', categoryId: 'c2', action: 'search', text: 'red shoes' },
      ]);
      expect(report.rowsRead).to.equal(9);
      expect(report.kept).to.equal(2);
      expect(report.dropped).to.equal(7);
      expect(report.droppedByReason).to.deep.equal({
        'invalid JSON': { count: 2, firstLines: [3, 10] },
        'invalid timestamp': { count: 1, firstLines: [5] },
        'not a JSON object': { count: 1, firstLines: [6] },
        'unknown action': { count: 1, firstLines: [7] },
        'invalid price': { count: 1, firstLines: [8] },
        'missing userId': { count: 1, firstLines: [9] },
      });
      expect(report.users).to.equal(2);
      expect(report.actions).to.deep.equal({ view: 1, search: 1 });
    });

    it('keeps only the first five line numbers per reason but counts them all', async () => {
      const lines = ['{"userId":"u","timestamp":1,"itemId":"i","categoryId":"c","action":"view"}'];
      for (let i = 0; i < 8; i++) lines.push('{broken');
      const { report } = await readAllEvents({ path: tmp.write('many-bad.jsonl', lines.join('\n')) });
      expect(report.droppedByReason['invalid JSON']).to.deep.equal({ count: 8, firstLines: [2, 3, 4, 5, 6] });
    });

    it('stamps a merchantId on events that have none', async () => {
      const path = tmp.write('m.jsonl', '{"userId":"u","timestamp":1,"itemId":"i","categoryId":"c","action":"view"}\n{"userId":"u","timestamp":2,"itemId":"i","categoryId":"c","action":"view","merchantId":"own"}\n');
      const { events } = await readAllEvents({ path, merchantId: 'shop9' });
      expect(events.map((e) => e.merchantId)).to.deep.equal(['shop9', 'own']);
    });
  });

  describe('generic CSV', () => {
    it('reads a header with any column order, quoted fields and optional columns', async () => {
      const path = tmp.write('events.csv', [
        'action,user_id,Timestamp,itemId,categoryId,price,text',
        'view,u1,1700000000000,i1,shoes,19.99,',
        'search,u1,1700000001000,i0,shoes,,"red, running ""fast"" shoes"',
        'purchase,u2,2024-03-01T10:00:00.000Z,i9,hats,5,',
        'view,u2,1700000000000,i1,shoes',
        'view,u2,1700000000000,i1,shoes,abc,',
        'view,u2,"1700000000000,i1,shoes,1,',
        'teleport,u2,1700000000000,i1,shoes,1,',
      ].join('\r\n'));
      const { events, report } = await readAllEvents({ path });
      expect(report.format).to.equal('csv');
      expect(events).to.deep.equal([
        { userId: 'u1', timestamp: 1_700_000_000_000, itemId: 'i1', categoryId: 'shoes', action: 'view', price: 19.99 },
        { userId: 'u1', timestamp: 1_700_000_001_000, itemId: 'i0', categoryId: 'shoes', action: 'search', text: 'red, running "fast" shoes' },
        { userId: 'u2', timestamp: Date.UTC(2024, 2, 1, 10), itemId: 'i9', categoryId: 'hats', action: 'purchase', price: 5 },
      ]);
      expect(report.droppedByReason).to.deep.equal({
        'wrong number of columns': { count: 1, firstLines: [5] },
        'invalid price': { count: 1, firstLines: [6] },
        'unterminated quote': { count: 1, firstLines: [7] },
        'unknown action': { count: 1, firstLines: [8] },
      });
      expect(report.rowsRead).to.equal(7);
    });
  });

  describe('MovieLens', () => {
    it('maps ratings to actions and uses the first genre as category and the title as text', async () => {
      tmp.write('ml/ratings.csv', 'userId,movieId,rating,timestamp\n1,10,5.0,964982703\n1,20,4.5,964982224\n2,10,3.0,964983815\n2,30,1.5,964982931\n2,99,4.0,964982400\n3,10,abc,964982400\n3,10,4.0,later\n');
      tmp.write('ml/movies.csv', 'movieId,title,genres\n10,"Toy Story (1995)",Adventure|Animation|Children\n20,"Heat, The (1995)",Action|Crime\n30,Nixon (1995),(no genres listed)\n');
      const { events, report } = await readAllEvents({ path: join(tmp.dir, 'ml') });
      expect(report.format).to.equal('movielens');
      expect(events).to.deep.equal([
        { userId: '1', timestamp: 964_982_703_000, itemId: '10', categoryId: 'Adventure', action: 'purchase', text: 'Toy Story (1995)' },
        { userId: '1', timestamp: 964_982_224_000, itemId: '20', categoryId: 'Action', action: 'cart', text: 'Heat, The (1995)' },
        { userId: '2', timestamp: 964_983_815_000, itemId: '10', categoryId: 'Adventure', action: 'click', text: 'Toy Story (1995)' },
        { userId: '2', timestamp: 964_982_931_000, itemId: '30', categoryId: 'unknown', action: 'view', text: 'Nixon (1995)' },
        { userId: '2', timestamp: 964_982_400_000, itemId: '99', categoryId: 'unknown', action: 'cart' },
      ]);
      expect(report.droppedByReason).to.deep.equal({
        'invalid rating': { count: 1, firstLines: [7] },
        'invalid timestamp': { count: 1, firstLines: [8] },
      });
      expect(report.warnings).to.deep.equal({ 'movieId not in movies.csv (category "unknown")': 1 });
    });

    it('is also detected from a ratings.csv path', async () => {
      const { report } = await readAllEvents({ path: join(tmp.dir, 'ml', 'ratings.csv') });
      expect(report.format).to.equal('movielens');
      expect(report.kept).to.equal(5);
    });

    it('maps the rating scale as documented', () => {
      expect([5, 4.5, 4, 3.5, 3, 2.5, 1, 0.5].map(ratingToAction)).to.deep.equal(['purchase', 'cart', 'cart', 'click', 'click', 'view', 'view', 'view']);
    });
  });

  describe('RetailRocket', () => {
    it('maps view/addtocart/transaction and takes the latest categoryid from item_properties', async () => {
      tmp.write('rr/events.csv', [
        'timestamp,visitorid,event,itemid,transactionid',
        '1433221332117,257597,view,355908,',
        '1433224214164,992329,addtocart,248676,',
        '1433221999827,111016,transaction,248676,4000',
        '1433221999827,111016,wishlist,248676,',
        'oops,111016,view,248676,',
        '1433221999828,111017,view,777,',
      ].join('\n') + '\n');
      tmp.write('rr/item_properties_part1.csv', 'timestamp,itemid,property,value\n1435460400000,355908,categoryid,1173\n1435460400000,248676,available,1\n1431226800000,248676,categoryid,100\n');
      tmp.write('rr/item_properties_part2.csv', 'timestamp,itemid,property,value\n1439089200000,248676,categoryid,1613\n1430000000000,355908,categoryid,5\n');
      const { events, report } = await readAllEvents({ path: join(tmp.dir, 'rr') });
      expect(report.format).to.equal('retailrocket');
      expect(events).to.deep.equal([
        { userId: '257597', timestamp: 1433221332117, itemId: '355908', categoryId: '1173', action: 'view' },
        { userId: '992329', timestamp: 1433224214164, itemId: '248676', categoryId: '1613', action: 'cart' },
        { userId: '111016', timestamp: 1433221999827, itemId: '248676', categoryId: '1613', action: 'purchase' },
        { userId: '111017', timestamp: 1433221999828, itemId: '777', categoryId: 'unknown', action: 'view' },
      ]);
      expect(report.droppedByReason).to.deep.equal({
        'unknown event type': { count: 1, firstLines: [5] },
        'invalid timestamp': { count: 1, firstLines: [6] },
      });
      expect(report.warnings).to.deep.equal({ 'item without categoryid (category "unknown")': 1 });
    });

    it('uses category "unknown" when no item_properties file is given', async () => {
      const { events } = await readAllEvents({ path: join(tmp.dir, 'rr', 'events.csv') });
      expect(new Set(events.map((e) => e.categoryId))).to.deep.equal(new Set(['unknown']));
    });
  });

  describe('Taobao', () => {
    it('reads header-less UserBehavior rows (seconds) and maps fav to click', async () => {
      const path = tmp.write('UserBehavior.csv', [
        '1,2268318,2520377,pv,1511544070',
        '1,2333346,2520771,fav,1511561733',
        '1,2576651,149192,cart,1511572885',
        '2,3830808,4181361,buy,1511593493',
        '2,3830808,4181361,like,1511593493',
        '2,3830808,pv,1511593493',
        '2,3830808,4181361,pv,x',
      ].join('\n'));
      const { events, report } = await readAllEvents({ path });
      expect(report.format).to.equal('taobao');
      expect(events.map((e) => [e.userId, e.itemId, e.categoryId, e.action, e.timestamp])).to.deep.equal([
        ['1', '2268318', '2520377', 'view', 1_511_544_070_000],
        ['1', '2333346', '2520771', 'click', 1_511_561_733_000],
        ['1', '2576651', '149192', 'cart', 1_511_572_885_000],
        ['2', '3830808', '4181361', 'purchase', 1_511_593_493_000],
      ]);
      expect(report.droppedByReason).to.deep.equal({
        'unknown behavior_type': { count: 1, firstLines: [5] },
        'wrong number of columns': { count: 1, firstLines: [6] },
        'invalid timestamp': { count: 1, firstLines: [7] },
      });
    });
  });

  it('streams: the report grows while iterating and a second pass starts a fresh report', async () => {
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ userId: `u${i % 5}`, timestamp: i, itemId: `i${i}`, categoryId: 'c', action: 'view' }));
    const stream = readEvents({ path: tmp.write('s.jsonl', lines.join('\n')) });
    let seen = 0;
    for await (const _ of stream) {
      seen++;
      if (seen === 10) expect(stream.report().kept).to.equal(10);
    }
    expect(stream.report().kept).to.equal(50);
    let again = 0;
    for await (const _ of stream) again++;
    expect(again).to.equal(50);
    expect(stream.report().rowsRead).to.equal(50);
  });
});
