import { ConfigError } from '../../shared/errors.js';
import { dirichlet, partitionSamplers, seededUniform, shuffleInPlace } from '../../shared/random.js';
import type { ClientShard, PartitionUnit } from './types.js';

/** Pure assignment functions: sorted units in, client shards out (possibly empty shards). */

const pad = (i: number, n: number) => String(i).padStart(String(Math.max(n - 1, 0)).length, '0');
const emptyShards = (n: number): ClientShard[] => Array.from({ length: n }, (_, i) => ({ clientId: `client-${pad(i, n)}`, unitIds: [] }));

export function naturalPartition(units: readonly PartitionUnit[], clients?: number): ClientShard[] {
  const byMerchant = new Map<string, string[]>();
  const missing = units.filter((u) => u.merchantId === undefined).length;
  if (missing > 0) {
    throw new ConfigError(`partition.type: "natural" splits by merchantId, but ${missing} of ${units.length} users have events without one; use "iid", "dirichlet", "quantity-skew" or "per-user" for this data`, { field: 'partition.type', missing });
  }
  for (const u of units) {
    const list = byMerchant.get(u.merchantId!) ?? [];
    list.push(u.id);
    byMerchant.set(u.merchantId!, list);
  }
  // Largest merchants first, so `clients` keeps the biggest; ties by id for determinism.
  const shards = [...byMerchant.entries()]
    .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))
    .map(([m, ids]) => ({ clientId: `merchant-${m}`, unitIds: ids }));
  return clients === undefined ? shards : shards.slice(0, clients);
}

export function iidPartition(units: readonly PartitionUnit[], clients: number, seed: number): ClientShard[] {
  const ids = shuffleInPlace(units.map((u) => u.id), seededUniform(`${seed}:partition/iid`));
  const shards = emptyShards(clients);
  ids.forEach((id, i) => shards[i % clients]!.unitIds.push(id));
  return shards;
}

export function perUserPartition(units: readonly PartitionUnit[], clients: number | undefined, seed: number): ClientShard[] {
  let ids = units.map((u) => u.id);
  if (clients !== undefined && clients < ids.length) {
    ids = shuffleInPlace(ids, seededUniform(`${seed}:partition/per-user`)).slice(0, clients).sort();
  }
  return ids.map((id, i) => ({ clientId: `user-${pad(i, ids.length)}`, unitIds: [id] }));
}

/** Sizes proportional to LogNormal(0, sigma), at least one unit per client when there are enough units. */
export function quantitySkewPartition(units: readonly PartitionUnit[], clients: number, sigma: number, seed: number): ClientShard[] {
  const rng = seededUniform(`${seed}:partition/quantity-skew`);
  const { logNormal } = partitionSamplers(rng);
  const draws = Array.from({ length: clients }, () => logNormal(sigma));
  const total = draws.reduce((s, x) => s + x, 0);
  const floor = units.length >= clients ? 1 : 0;
  const spare = units.length - floor * clients;
  const exact = draws.map((d) => (d / total) * spare);
  const sizes = exact.map((x) => floor + Math.floor(x));
  // Largest remainder, so sizes sum to the unit count exactly.
  let left = units.length - sizes.reduce((s, x) => s + x, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0; left > 0; k = (k + 1) % clients, left--) sizes[order[k]![1]]! += 1;
  const ids = shuffleInPlace(units.map((u) => u.id), rng);
  const shards = emptyShards(clients);
  let at = 0;
  sizes.forEach((n, i) => { shards[i]!.unitIds = ids.slice(at, (at += n)); });
  return shards;
}

function dominantCategory(u: PartitionUnit): string {
  let best = '';
  let bestN = -1;
  for (const [c, n] of Object.entries(u.categoryCounts).sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (n > bestN) { best = c; bestN = n; }
  }
  return best;
}

/**
 * Hsu et al. 2019: client c draws q_c ~ Dir(alpha * p) over categories (p = share of users per dominant
 * category), then clients take turns drawing one user each, of a category sampled from q_c among the
 * categories that still have users. Clients end up equally sized (+-1); only their mixes differ.
 */
export function dirichletPartition(units: readonly PartitionUnit[], clients: number, alpha: number, seed: number): ClientShard[] {
  const rng = seededUniform(`${seed}:partition/dirichlet`);
  const { gamma } = partitionSamplers(rng);
  const pools = new Map<string, string[]>();
  for (const u of units) {
    const c = dominantCategory(u);
    const list = pools.get(c) ?? [];
    list.push(u.id);
    pools.set(c, list);
  }
  const cats = [...pools.keys()].sort();
  for (const c of cats) shuffleInPlace(pools.get(c)!, rng);
  const prior = cats.map((c) => pools.get(c)!.length / units.length);
  const q = Array.from({ length: clients }, () => dirichlet(rng, prior.map((p) => alpha * p), gamma));
  const shards = emptyShards(clients);
  let remaining = units.length;
  while (remaining > 0) {
    for (let i = 0; i < clients && remaining > 0; i++) {
      const qi = q[i]!;
      let mass = 0;
      for (let k = 0; k < cats.length; k++) if (pools.get(cats[k]!)!.length > 0) mass += qi[k]!;
      let pick = -1;
      if (mass > 0) {
        let u = rng() * mass;
        for (let k = 0; k < cats.length; k++) {
          if (pools.get(cats[k]!)!.length === 0 || qi[k]! === 0) continue;
          pick = k;
          u -= qi[k]!;
          if (u < 0) break;
        }
      } else {
        // This client's categories are used up: take from the largest remaining pool, as Hsu et al. do.
        let most = 0;
        for (let k = 0; k < cats.length; k++) {
          const n = pools.get(cats[k]!)!.length;
          if (n > most) { most = n; pick = k; }
        }
      }
      shards[i]!.unitIds.push(pools.get(cats[pick]!)!.pop()!);
      remaining--;
    }
  }
  return shards;
}
