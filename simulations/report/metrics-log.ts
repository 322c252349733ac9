import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type { RoundRecord } from './types.js';

/**
 * metrics.jsonl is appended one synced line per round, so an interrupted run keeps every finished round
 * and never a half-written one.
 */
export class MetricsLog {
  private fd: number | null;
  readonly records: RoundRecord[] = [];
  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }
  append(r: RoundRecord): void {
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
