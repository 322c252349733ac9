import type { Action } from '../events.js';

/** Source formats a reader understands; 'auto' is resolved before reading starts. */
export type SourceFormat = 'jsonl' | 'csv' | 'movielens' | 'retailrocket' | 'taobao';

/** One reason rows were dropped, with the first few line numbers so a user can open the file and look. */
export interface DropTally {
  count: number;
  /** 1-based physical line numbers in the file named by `file` of the report (at most FIRST_LINES_KEPT). */
  firstLines: number[];
}

/** What happened while reading one source: nothing is dropped silently. */
export interface ReadReport {
  file: string;
  format: SourceFormat;
  /** Non-blank data rows seen (header lines excluded). */
  rowsRead: number;
  kept: number;
  dropped: number;
  droppedByReason: Record<string, DropTally>;
  /** Rows that were kept but needed a fallback (e.g. an item without a known category). */
  warnings: Record<string, number>;
  /** Kept events per action. */
  actions: Partial<Record<Action, number>>;
  /** Distinct users among kept events. */
  users: number;
}

export const FIRST_LINES_KEPT = 5;

/** Mutable accumulator behind a ReadReport; readers call it, consumers only see snapshots. */
export class ReportBuilder {
  private rowsRead = 0;
  private kept = 0;
  private readonly drops = new Map<string, DropTally>();
  private readonly warnings = new Map<string, number>();
  private readonly actions = new Map<Action, number>();
  private readonly userIds = new Set<string>();

  constructor(private readonly file: string, private readonly format: SourceFormat) {}

  row(): void {
    this.rowsRead++;
  }

  keep(userId: string, action: Action): void {
    this.kept++;
    this.userIds.add(userId);
    this.actions.set(action, (this.actions.get(action) ?? 0) + 1);
  }

  drop(reason: string, line: number): void {
    let tally = this.drops.get(reason);
    if (!tally) {
      tally = { count: 0, firstLines: [] };
      this.drops.set(reason, tally);
    }
    tally.count++;
    if (tally.firstLines.length < FIRST_LINES_KEPT) tally.firstLines.push(line);
  }

  warn(reason: string): void {
    this.warnings.set(reason, (this.warnings.get(reason) ?? 0) + 1);
  }

  snapshot(): ReadReport {
    const droppedByReason: Record<string, DropTally> = {};
    let dropped = 0;
    for (const [reason, t] of this.drops) {
      droppedByReason[reason] = { count: t.count, firstLines: [...t.firstLines] };
      dropped += t.count;
    }
    return {
      file: this.file,
      format: this.format,
      rowsRead: this.rowsRead,
      kept: this.kept,
      dropped,
      droppedByReason,
      warnings: Object.fromEntries(this.warnings),
      actions: Object.fromEntries(this.actions) as Partial<Record<Action, number>>,
      users: this.userIds.size,
    };
  }
}
