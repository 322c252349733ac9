import type { ClientShard, PartitionStats, PartitionUnit } from './types.js';

function summary(xs: number[]): { min: number; max: number; mean: number } {
  if (xs.length === 0) return { min: 0, max: 0, mean: 0 };
  return { min: Math.min(...xs), max: Math.max(...xs), mean: xs.reduce((s, x) => s + x, 0) / xs.length };
}

function addCounts(into: Map<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into.set(k, (into.get(k) ?? 0) + v);
}

function totalVariation(a: Map<string, number>, aTotal: number, b: Map<string, number>, bTotal: number): number {
  const keys = new Set([...a.keys(), ...b.keys()]);
  let d = 0;
  for (const k of keys) d += Math.abs((a.get(k) ?? 0) / aTotal - (b.get(k) ?? 0) / bTotal);
  return d / 2;
}

export function partitionStats(
  scheme: string,
  units: readonly PartitionUnit[],
  shards: readonly ClientShard[],
  emptyClients: string[],
): PartitionStats {
  const byId = new Map(units.map((u) => [u.id, u]));
  const global = new Map<string, number>();
  let globalTotal = 0;
  const perClient = shards.map((s) => {
    const counts = new Map<string, number>();
    let events = 0;
    for (const id of s.unitIds) {
      const u = byId.get(id)!;
      addCounts(counts, u.categoryCounts);
      events += u.numEvents;
    }
    for (const [k, v] of counts) global.set(k, (global.get(k) ?? 0) + v);
    const catTotal = [...counts.values()].reduce((a, b) => a + b, 0);
    globalTotal += catTotal;
    return { counts, catTotal, events };
  });
  let weighted = 0;
  let weight = 0;
  for (const c of perClient) {
    if (c.catTotal === 0) continue;
    weighted += c.catTotal * totalVariation(c.counts, c.catTotal, global, globalTotal);
    weight += c.catTotal;
  }
  const assigned = shards.reduce((s, c) => s + c.unitIds.length, 0);
  return {
    scheme,
    units: units.length,
    unitsUnassigned: units.length - assigned,
    clients: shards.length,
    emptyClients,
    unitsPerClient: summary(shards.map((s) => s.unitIds.length)),
    eventsPerClient: summary(perClient.map((c) => c.events)),
    categoryDivergence: weight > 0 ? weighted / weight : 0,
  };
}
