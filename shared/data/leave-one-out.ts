/**
 * Leave-one-out split of one user's ordered item sequence: the last item is the test target, the
 * second-last the validation target, everything before is training history. Ties in time keep the
 * order the events arrived in (a stable sort), because many consecutive ratings share a timestamp.
 */
export interface TimedItem {
  readonly itemId: string;
  readonly timestamp: number;
}

export interface LeaveOneOutSplit {
  readonly train: readonly string[];
  readonly validation: string | null;
  readonly test: string | null;
}

export function orderByTimeStable(events: readonly TimedItem[]): string[] {
  return events
    .map((event, index) => ({ event, index }))
    .sort((a, b) => a.event.timestamp - b.event.timestamp || a.index - b.index)
    .map(({ event }) => event.itemId);
}

export function leaveOneOutSplit(events: readonly TimedItem[]): LeaveOneOutSplit {
  const ordered = orderByTimeStable(events);
  if (ordered.length < 3) return { train: ordered, validation: null, test: null };
  return {
    train: ordered.slice(0, -2),
    validation: ordered[ordered.length - 2] ?? null,
    test: ordered[ordered.length - 1] ?? null,
  };
}
