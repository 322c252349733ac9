import { DataFileError } from '../../errors.js';
import type { BehaviourEvent } from '../events.js';
import { indexColumns, splitCsvLine } from './csv.js';
import { readLines } from './file.js';
import type { ReportBuilder } from './report.js';
import { buildEvent, type RawEventFields } from './row.js';

export const REQUIRED_COLUMNS = ['userId', 'timestamp', 'itemId', 'categoryId', 'action'] as const;
export const OPTIONAL_COLUMNS = ['price', 'text', 'merchantId'] as const;
const ALL_COLUMNS = [...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS] as const;
type Column = (typeof ALL_COLUMNS)[number];

/** Throws when the header line lacks a required column; returns the column positions otherwise. */
export function checkGenericCsvHeader(path: string, headerLine: string): Record<Column, number> {
  const header = splitCsvLine(headerLine) ?? [];
  const idx = indexColumns(header, ALL_COLUMNS);
  const missing = REQUIRED_COLUMNS.filter((c) => idx[c] < 0);
  if (missing.length > 0) {
    throw new DataFileError(
      path,
      `missing required column(s) ${missing.join(', ')} in the header (found: ${header.map((h) => h.trim()).join(', ') || 'nothing'}); ` +
        `the first line must name the columns ${REQUIRED_COLUMNS.join(',')} (optional: ${OPTIONAL_COLUMNS.join(',')})`,
      { missing, found: header },
    );
  }
  return idx;
}

export async function* readGenericCsv(path: string, report: ReportBuilder): AsyncGenerator<BehaviourEvent> {
  let idx: Record<Column, number> | null = null;
  let width = 0;
  for await (const { line, lineNo } of readLines(path)) {
    if (idx === null) {
      idx = checkGenericCsvHeader(path, line);
      width = (splitCsvLine(line) ?? []).length;
      continue;
    }
    report.row();
    const cells = splitCsvLine(line);
    if (cells === null) {
      report.drop('unterminated quote', lineNo);
      continue;
    }
    if (cells.length !== width) {
      report.drop('wrong number of columns', lineNo);
      continue;
    }
    const at = (c: Column): string | undefined => (idx![c] >= 0 ? cells[idx![c]] : undefined);
    const raw: RawEventFields = {
      userId: at('userId'), timestamp: at('timestamp'), itemId: at('itemId'), categoryId: at('categoryId'),
      action: at('action'), price: at('price'), text: at('text'), merchantId: at('merchantId'),
    };
    const r = buildEvent(raw);
    if (!r.ok) {
      report.drop(r.reason, lineNo);
      continue;
    }
    report.keep(r.event.userId, r.event.action);
    yield r.event;
  }
}

export async function* readJsonl(path: string, report: ReportBuilder): AsyncGenerator<BehaviourEvent> {
  for await (const { line, lineNo } of readLines(path)) {
    report.row();
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      report.drop('invalid JSON', lineNo);
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      report.drop('not a JSON object', lineNo);
      continue;
    }
    const r = buildEvent(value as RawEventFields);
    if (!r.ok) {
      report.drop(r.reason, lineNo);
      continue;
    }
    report.keep(r.event.userId, r.event.action);
    yield r.event;
  }
}
