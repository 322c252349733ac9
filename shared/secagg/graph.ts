import { randomInt } from 'node:crypto';
import { shuffleInPlace } from '../random.js';

/**
 * The neighbour graph: a Harary graph H(k, n) (a ring where each node is joined to k/2 nodes on each side)
 * under a uniformly random relabelling of the participants, as deployed SecAgg+ implementations do. Every
 * node has exactly k neighbours, the graph is k-connected, and which clients end up adjacent is random.
 * With k >= n − 1 it is the complete graph.
 */
export type RandomIndex = (bound: number) => number;

const osRandomIndex: RandomIndex = (bound) => randomInt(bound);

/**
 * `randomIndex(b)` returns a uniform integer in [0, b). The default is the OS CSPRNG; a seeded source is for
 * reproducible simulations (SecAgg+ lets the server choose the graph anyway, see README, Threat model).
 */
export function buildNeighbourGraph(
  participants: readonly string[], k: number, randomIndex: RandomIndex = osRandomIndex,
): Map<string, string[]> {
  const order = shuffleInPlace([...participants], { index: randomIndex });
  const n = order.length;
  const graph = new Map<string, string[]>();
  if (k >= n - 1) {
    for (const id of order) graph.set(id, order.filter((o) => o !== id));
    return graph;
  }
  const half = k / 2;
  for (let i = 0; i < n; i++) {
    const nb: string[] = [];
    for (let d = 1; d <= half; d++) nb.push(order[(i + d) % n]!, order[(i - d + n) % n]!);
    graph.set(order[i]!, nb);
  }
  return graph;
}
