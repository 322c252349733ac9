import type { BehaviourEvent } from './events.js';

export interface CleanOptions {
  /** Keep at most this many events per user, the most recent ones (default: no cap). */
  maxEvents?: number;
  /** Drop users with fewer events than this after dedupe (default 1: keep everyone). */
  minEvents?: number;
}

export interface CleanReport {
  inputEvents: number;
  inputUsers: number;
  duplicatesRemoved: number;
  usersCapped: number;
  /** Older events removed by the length cap. */
  cappedRemoved: number;
  usersDroppedTooFew: number;
  eventsDroppedTooFew: number;
  outputUsers: number;
  outputEvents: number;
}

export interface CleanResult {
  /** userId → that user's events, oldest first; users in order of first appearance in the input. */
  users: Map<string, BehaviourEvent[]>;
  report: CleanReport;
}

/** Exact duplicate = every field equal (a double-logged event), not merely the same item twice. */
function eventKey(e: BehaviourEvent): string {
  return `${e.timestamp}\u0001${e.itemId}\u0001${e.categoryId}\u0001${e.action}\u0001${e.price ?? ''}\u0001${e.text ?? ''}\u0001${e.merchantId ?? ''}`;
}

class Cleaner {
  private readonly perUser = new Map<string, { events: BehaviourEvent[]; keys: Set<string> }>();
  private inputEvents = 0;
  private duplicates = 0;

  add(e: BehaviourEvent): void {
    this.inputEvents++;
    let u = this.perUser.get(e.userId);
    if (!u) this.perUser.set(e.userId, (u = { events: [], keys: new Set() }));
    const k = eventKey(e);
    if (u.keys.has(k)) {
      this.duplicates++;
      return;
    }
    u.keys.add(k);
    u.events.push(e);
  }

  finish(opts: CleanOptions): CleanResult {
    const maxEvents = opts.maxEvents ?? Infinity;
    const minEvents = opts.minEvents ?? 1;
    const users = new Map<string, BehaviourEvent[]>();
    const report: CleanReport = {
      inputEvents: this.inputEvents, inputUsers: this.perUser.size, duplicatesRemoved: this.duplicates,
      usersCapped: 0, cappedRemoved: 0, usersDroppedTooFew: 0, eventsDroppedTooFew: 0, outputUsers: 0, outputEvents: 0,
    };
    for (const [userId, { events }] of this.perUser) {
      // Array.prototype.sort is stable, so events with equal timestamps keep their input order.
      events.sort((a, b) => a.timestamp - b.timestamp);
      if (events.length < minEvents) {
        report.usersDroppedTooFew++;
        report.eventsDroppedTooFew += events.length;
        continue;
      }
      let kept = events;
      if (events.length > maxEvents) {
        kept = events.slice(events.length - maxEvents);
        report.usersCapped++;
        report.cappedRemoved += events.length - kept.length;
      }
      users.set(userId, kept);
      report.outputUsers++;
      report.outputEvents += kept.length;
    }
    return { users, report };
  }
}

/** Groups by user, removes exact duplicates, sorts each user's events by time (stable) and caps length. */
export function cleanEvents(events: Iterable<BehaviourEvent>, opts: CleanOptions = {}): CleanResult {
  const c = new Cleaner();
  for (const e of events) c.add(e);
  return c.finish(opts);
}

/** Same as cleanEvents, consuming a stream (e.g. readEvents) without holding the raw rows twice. */
export async function cleanEventStream(events: AsyncIterable<BehaviourEvent>, opts: CleanOptions = {}): Promise<CleanResult> {
  const c = new Cleaner();
  for await (const e of events) c.add(e);
  return c.finish(opts);
}

export interface SplitOptions {
  /** Share of each user's events (most recent) held out for test. Default 0.1. */
  testFraction?: number;
  /** Share of each user's events just before the test part held out for validation. Default 0.1. */
  validationFraction?: number;
  /** Users with fewer events than this are not split: everything is train. Default 3. */
  minEventsToSplit?: number;
}

export interface TimeSplit {
  train: BehaviourEvent[];
  validation: BehaviourEvent[];
  test: BehaviourEvent[];
}

/**
 * Per-user split in time order. With n events sorted oldest first, test = the last max(1, round(testFraction·n))
 * events, validation = the max(1, round(validationFraction·n)) events before those, train = the rest (at least
 * one event: validation, then test, shrink when n is small). A fraction of 0 gives an empty part. Users with
 * fewer than minEventsToSplit events are all train. Every validation/test event is later than (or at the same
 * time as) every train event, so a model never learns from a user's future.
 */
export function splitByTime(events: readonly BehaviourEvent[], opts: SplitOptions = {}): TimeSplit {
  const testFraction = opts.testFraction ?? 0.1;
  const validationFraction = opts.validationFraction ?? 0.1;
  const minEventsToSplit = opts.minEventsToSplit ?? 3;
  const n = events.length;
  if (n < minEventsToSplit) return { train: [...events], validation: [], test: [] };
  const part = (f: number): number => (f > 0 ? Math.max(1, Math.round(f * n)) : 0);
  let nTest = part(testFraction);
  let nVal = part(validationFraction);
  while (n - nTest - nVal < 1 && nVal > 0) nVal--;
  while (n - nTest - nVal < 1 && nTest > 0) nTest--;
  const trainEnd = n - nTest - nVal;
  return {
    train: events.slice(0, trainEnd),
    validation: events.slice(trainEnd, n - nTest),
    test: events.slice(n - nTest),
  };
}
