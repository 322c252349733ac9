import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type { MetricName, RoundRecord } from './types.js';

/**
 * metrics.jsonl is appended one synced line per round, so an interrupted run keeps every finished round
 * and never a half-written one.
 */
export class MetricsLog {
  private fd: number | null;
  readonly records: RoundRecord[] = [];
  /** `unmeasurable`: metrics the data cannot measure (e.g. tier without prices); recorded as null, never a score. */
  constructor(readonly path: string, private readonly unmeasurable: readonly MetricName[] = []) {
    this.fd = openSync(path, 'w');
  }
  append(record: RoundRecord): void {
    const r = { ...record };
    for (const m of this.unmeasurable) r[m] = Number.NaN;
    this.records.push(r);
    if (this.fd === null) return;
    writeSync(this.fd, `${JSON.stringify(r)}\n`);
    fsyncSync(this.fd);
  }
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
