import { DataFileError } from '../../errors.js';
import type { Action, BehaviourEvent } from '../events.js';
import { indexColumns, splitCsvLine } from './csv.js';
import { checkTextFile, readLines } from './file.js';
import type { ReportBuilder } from './report.js';
import { toMillis } from './timestamp.js';

/** RetailRocket's three event kinds; a transaction is a completed purchase. */
const EVENT_TO_ACTION: Record<string, Action> = { view: 'view', addtocart: 'cart', transaction: 'purchase' };
const EVENTS_COLUMNS = ['timestamp', 'visitorid', 'event', 'itemid'] as const;
const PROPERTY_COLUMNS = ['timestamp', 'itemid', 'property', 'value'] as const;

export function looksLikeRetailRocketHeader(line: string): boolean {
  const idx = indexColumns(splitCsvLine(line) ?? [], EVENTS_COLUMNS);
  return EVENTS_COLUMNS.every((c) => idx[c] >= 0);
}

export function checkRetailRocketFiles(eventsPath: string, propertyPaths: readonly string[]): void {
  const line = checkTextFile(eventsPath).firstLine;
  if (!looksLikeRetailRocketHeader(line)) {
    throw new DataFileError(eventsPath, `is not a RetailRocket events.csv: expected the header timestamp,visitorid,event,itemid,transactionid (found: ${line.slice(0, 120)})`);
  }
  for (const p of propertyPaths) {
    const h = indexColumns(splitCsvLine(checkTextFile(p).firstLine) ?? [], PROPERTY_COLUMNS);
    if (!PROPERTY_COLUMNS.every((c) => h[c] >= 0)) {
      throw new DataFileError(p, 'is not a RetailRocket item_properties file: expected the header timestamp,itemid,property,value');
    }
  }
}

/**
 * Item → categoryid from item_properties*.csv. Properties change over time; the value with the latest
 * timestamp wins, which is the category the shop shows today. Only `categoryid` rows are kept in memory.
 */
async function loadCategories(paths: readonly string[], report: ReportBuilder): Promise<Map<string, string>> {
  const latest = new Map<string, { ts: number; category: string }>();
  for (const path of paths) {
    let idx: Record<(typeof PROPERTY_COLUMNS)[number], number> | null = null;
    for await (const { line } of readLines(path)) {
      if (idx === null) {
        idx = indexColumns(splitCsvLine(line) ?? [], PROPERTY_COLUMNS);
        continue;
      }
      if (!line.includes('categoryid')) continue; // cheap pre-filter: most rows are other properties
      const cells = line.split(',');
      if (cells[idx.property] !== 'categoryid') continue;
      const item = cells[idx.itemid]?.trim();
      const category = cells[idx.value]?.trim();
      const ts = toMillis(cells[idx.timestamp]) ?? 0;
      if (!item || !category) {
        report.warn('malformed item_properties row skipped');
        continue;
      }
      const prev = latest.get(item);
      if (!prev || ts >= prev.ts) latest.set(item, { ts, category });
    }
  }
  return new Map([...latest].map(([item, v]) => [item, v.category]));
}

export async function* readRetailRocket(
  eventsPath: string,
  propertyPaths: readonly string[],
  report: ReportBuilder,
): AsyncGenerator<BehaviourEvent> {
  const categories = propertyPaths.length > 0 ? await loadCategories(propertyPaths, report) : null;
  let idx: Record<(typeof EVENTS_COLUMNS)[number], number> | null = null;
  for await (const { line, lineNo } of readLines(eventsPath)) {
    if (idx === null) {
      idx = indexColumns(splitCsvLine(line) ?? [], EVENTS_COLUMNS);
      continue;
    }
    report.row();
    const cells = line.split(',');
    if (cells.length < 4) { report.drop('wrong number of columns', lineNo); continue; }
    const timestamp = toMillis(cells[idx.timestamp]);
    if (timestamp === null) { report.drop('invalid timestamp', lineNo); continue; }
    const userId = cells[idx.visitorid].trim();
    if (!userId) { report.drop('missing visitorid', lineNo); continue; }
    const action = EVENT_TO_ACTION[cells[idx.event].trim().toLowerCase()];
    if (!action) { report.drop('unknown event type', lineNo); continue; }
    const itemId = cells[idx.itemid].trim();
    if (!itemId) { report.drop('missing itemid', lineNo); continue; }
    let categoryId = 'unknown';
    if (categories) {
      const c = categories.get(itemId);
      if (c) categoryId = c;
      else report.warn('item without categoryid (category "unknown")');
    }
    report.keep(userId, action);
    yield { userId, timestamp, itemId, categoryId, action };
  }
}
