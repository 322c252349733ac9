import type { RoundRecord, StrategySummary } from './types.js';

/** Final metrics of each strategy = its last evaluated round; time and bytes summed over rounds. */
export function summariseStrategies(
  records: readonly RoundRecord[],
  participation: Record<string, Record<string, number>> = {},
): Record<string, StrategySummary> {
  const out: Record<string, StrategySummary> = {};
  const names = [...new Set(records.map((r) => r.strategy))];
  const central = records.filter((r) => r.strategy === 'centralized').at(-1);
  for (const name of names) {
    const rs = records.filter((r) => r.strategy === name);
    const last = rs.at(-1)!;
    const s: StrategySummary = {
      ndcg10: last.ndcg10, hr10: last.hr10, auc: last.auc, interestP3: last.interestP3, tierAcc: last.tierAcc,
      rounds: rs.length,
      ...(last.ndcg10Model !== undefined ? { ndcg10Model: last.ndcg10Model, ndcg10Statistics: last.ndcg10Statistics } : {}),
      seconds: last.totalSeconds,
      bytesUp: last.totalBytesUp,
      bytesDown: last.totalBytesDown,
    };
    if (central && name !== 'centralized' && name !== 'local') {
      const hit = rs.find((r) => r.phase === 'finetune' && r.ndcg10 >= 0.9 * central.ndcg10);
      s.roundsTo90pctCentralizedNdcg = hit ? hit.round : null;
    }
    const timing: Record<string, number> = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.timing ?? {})) timing[k] = (timing[k] ?? 0) + v;
    if (Object.keys(timing).length > 0) s.timing = timing;
    if (participation[name]) s.participation = participation[name];
    const dp = last.aggregation?.dpEpsilon;
    if (dp !== undefined) s.privacy = { epsilon: dp, delta: last.aggregation!.dpDelta!, rounds: rs.length };
    if (name !== 'centralized' && name !== 'local') s.bytesPerRound = { up: last.totalBytesUp / rs.length, down: last.totalBytesDown / rs.length };
    out[name] = s;
  }
  return out;
}
