/**
 * First-order transition statistics (item → next item counts) built from training sequences, with
 * backoff to popularity. Kept as plain counts so a client can hold its own and never send them.
 */
export interface TransitionModel {
  readonly successors: ReadonlyMap<string, ReadonlyMap<string, number>>;
  readonly popularity: ReadonlyMap<string, number>;
}

export function buildTransitionModel(sequences: readonly (readonly string[])[]): TransitionModel {
  const successors = new Map<string, Map<string, number>>();
  const popularity = new Map<string, number>();
  for (const sequence of sequences) {
    sequence.forEach((item, index) => {
      popularity.set(item, (popularity.get(item) ?? 0) + 1);
      const next = sequence[index + 1];
      if (next === undefined) return;
      const row = successors.get(item) ?? new Map<string, number>();
      row.set(next, (row.get(next) ?? 0) + 1);
      successors.set(item, row);
    });
  }
  return { successors, popularity };
}

/** Top-k next items after `history`, excluding items already in it: successors first, then popularity. */
export function rankNextItems(model: TransitionModel, history: readonly string[], k: number): string[] {
  const seen = new Set(history);
  const last = history[history.length - 1];
  const row = last === undefined ? undefined : model.successors.get(last);
  const byCount = (map: ReadonlyMap<string, number>): string[] =>
    [...map.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([item]) => item);
  const ranked: string[] = [];
  for (const item of [...(row ? byCount(row) : []), ...byCount(model.popularity)]) {
    if (ranked.length >= k) break;
    if (!seen.has(item) && !ranked.includes(item)) ranked.push(item);
  }
  return ranked;
}
