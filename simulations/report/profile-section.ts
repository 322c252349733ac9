import type { ProfileEvaluation } from '../../shared/training/profile-eval.js';

const f = (x: number | undefined, d = 3) => (x !== undefined && Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const days = (s: number | undefined) => (s !== undefined && Number.isFinite(s) ? (s / 86_400).toFixed(2) : 'n/a');

/** The report's "Profile quality" section: completeness, timeliness and explanation faithfulness per strategy. */
export function profileQualityMarkdown(profile: Readonly<Record<string, ProfileEvaluation>>): string[] {
  const names = Object.keys(profile);
  if (names.length === 0) return [];
  const lines = ['## Profile quality', '',
    'Completeness: share of held-out users whose profile field differs from the cold-start profile (the model with no events). '
    + 'Staleness: profiles refreshed at the evaluation cut-off, against each user\'s newest event. '
    + 'Faithfulness: mean change of the profile heads when the k events the explanation weighs most are removed, against k random events.', '',
    '| strategy | users complete | any field | interests | propensity | tier | next items | staleness median (days) | events behind | refresh ms (1 user, p50) | ms / user (batched) |',
    '|---|---|---|---|---|---|---|---|---|---|---|'];
  for (const n of names) {
    const p = profile[n]!;
    const c = p.completeness;
    const s = p.timeliness.staleness;
    const r = p.timeliness.refresh;
    lines.push(`| ${n} | ${f(c.usersComplete)} | ${f(c.usersWithAnyField)} | ${f(c.fields.interests)} | ${f(c.fields.propensity)} | ${f(c.fields.spendingTier)} | ${f(c.fields.nextItems)} `
      + `| ${days(s?.medianSeconds)} | ${f(s?.meanEventsBehind, 1)} | ${f(r.singleUserMsP50, 1)} | ${f(r.batchedMsPerUser, 2)} |`);
  }
  lines.push('', '| strategy | explanation | k | users | profile change, top-k removed | random-k removed | gap | top > random |', '|---|---|---|---|---|---|---|---|');
  for (const n of names) {
    for (const fa of profile[n]!.faithfulness) {
      lines.push(`| ${n} | ${fa.method} | ${fa.k} | ${fa.users} | ${f(fa.topRemoved.combined, 4)} | ${f(fa.randomRemoved.combined, 4)} | ${f(fa.gap, 4)} | ${f(fa.topBeatsRandom)} |`);
    }
  }
  lines.push('');
  return lines;
}
