/**
 * Serving each profile head as a blend of its rule and its trained self, with the blend chosen on validation.
 *
 * Why: the wide & deep heads start exactly at their rules (see user-features.ts), but training fits the label
 * windows' log-loss, not the ranking metrics the rules are judged by, and on sparse real data (MovieLens
 * ratings mapped to actions) it drifted below them. Serving logit = (1 − α)·rule + α·trained, with α the best
 * of HEAD_GATE_GRID on the federation's validation users, makes a head worse than its rule only by the
 * validation-to-test noise: α = 0 is the rule exactly.
 *
 * Why it federates exactly: like the scorer validation of the next-item statistics, each client writes its
 * validation sums divided by its FedAvg weight into `stats/head-validation`, so the weighted mean FedAvg (or
 * SecAgg+) computes is the pooled sums over the total weight, and argmax over the grid is the pooled choice.
 * Propensity is judged by AUC, which is not a sum over users; the weight carries, per α, histograms of the
 * blended logit for buyers and non-buyers, which are sums, and AUC is read off the pooled histograms.
 */

export const HEAD_GATE_WEIGHT = 'stats/head-validation';

/** Blends tried on validation: 0 = the rule, 1 = the trained head. */
export const HEAD_GATE_GRID: readonly number[] = [0, 0.25, 0.5, 0.75, 1];

/**
 * Propensity logits are binned over [−LOGIT_RANGE, LOGIT_RANGE] in AUC_BINS equal bins (outside: the end bins).
 * Fine bins (1/64 of a logit) because a calibrated head's logits sit in a narrow band around the base rate:
 * coarse bins would tie most users and understate exactly the heads that rank well.
 */
export const AUC_BINS = 1024;
export const LOGIT_RANGE = 8;

const G = HEAD_GATE_GRID.length;

/**
 * Layout of the weight: [interest P@3 sums (G), interest users (1), propensity users (1),
 * buyer histograms (G·AUC_BINS), non-buyer histograms (G·AUC_BINS)].
 */
export const HEAD_GATE_SIZE = G + 2 + 2 * G * AUC_BINS;
const INTEREST_USERS = G;
const PROPENSITY_USERS = G + 1;
const POSITIVE = G + 2;
const NEGATIVE = POSITIVE + G * AUC_BINS;

export interface HeadGate {
  /** α of the interests head. */
  interests: number;
  /** α of the propensity head. */
  propensity: number;
}

/** What a model without validation sums serves: the trained heads, unchanged. */
export const TRAINED_HEADS: HeadGate = { interests: 1, propensity: 1 };

export const blendLogit = (rule: number, trained: number, alpha: number): number => (1 - alpha) * rule + alpha * trained;

export function logitBin(logit: number): number {
  const x = Number.isFinite(logit) ? logit : Math.sign(logit) * LOGIT_RANGE;
  const b = Math.floor(((x + LOGIT_RANGE) / (2 * LOGIT_RANGE)) * AUC_BINS);
  return Math.min(AUC_BINS - 1, Math.max(0, b));
}

/** ROC AUC from score histograms (ties within a bin count half, as in the rank-sum AUC); NaN with one class. */
export function binnedAuc(positive: ArrayLike<number>, negative: ArrayLike<number>): number {
  let pos = 0;
  let neg = 0;
  for (let b = 0; b < positive.length; b++) { pos += positive[b]!; neg += negative[b]!; }
  if (!(pos > 0) || !(neg > 0)) return Number.NaN;
  let below = 0;
  let wins = 0;
  for (let b = 0; b < positive.length; b++) {
    wins += positive[b]! * (below + 0.5 * negative[b]!);
    below += negative[b]!;
  }
  return wins / (pos * neg);
}

/**
 * A blend within this much of the best validation score counts as equally good, and the largest such α wins:
 * differences this small are validation noise, and the trained head is what the federation paid to learn.
 */
export const GATE_TOLERANCE = 0.0025;

/** The largest α whose score is within GATE_TOLERANCE of the best; NaN scores never win; 1 when none is finite. */
function bestAlpha(score: (g: number) => number): number {
  const scores = HEAD_GATE_GRID.map((_, g) => score(g));
  const best = Math.max(...scores.filter(Number.isFinite));
  if (!Number.isFinite(best)) return 1;
  let chosen = 0;
  scores.forEach((s, g) => { if (Number.isFinite(s) && s >= best - GATE_TOLERANCE) chosen = g; });
  return HEAD_GATE_GRID[chosen]!;
}

/** The gate the pooled validation sums choose; the trained heads where a head has no validation users. */
export function chooseHeadGate(values: ArrayLike<number>): HeadGate {
  if (values.length !== HEAD_GATE_SIZE) throw new RangeError(`head validation has ${values.length} values, expected ${HEAD_GATE_SIZE}`);
  const slice = (from: number) => Array.from({ length: AUC_BINS }, (_, b) => values[from + b]!);
  return {
    // Mean P@3 (the sums are divided by the FedAvg weight, so only their ratio to the user count is a metric).
    interests: values[INTEREST_USERS]! > 0 ? bestAlpha((g) => values[g]! / values[INTEREST_USERS]!) : 1,
    propensity: values[PROPENSITY_USERS]! > 0
      ? bestAlpha((g) => binnedAuc(slice(POSITIVE + g * AUC_BINS), slice(NEGATIVE + g * AUC_BINS)))
      : 1,
  };
}

/** One validation user's contribution: each head's rule and trained logits, and the labels. */
export interface GateObservation {
  /** Per category (index = category id); only ids >= 1 are ranked. */
  interestRule: ArrayLike<number>;
  interestTrained: ArrayLike<number>;
  /** Categories engaged with in the label window. */
  interestTruth: ReadonlySet<number>;
  propensityRule: number;
  propensityTrained: number;
  purchased: boolean;
}

const FIRST_CATEGORY = 1;

function precisionAt3(scores: Float64Array, truth: ReadonlySet<number>): number {
  const ids: number[] = [];
  for (let i = FIRST_CATEGORY; i < scores.length; i++) ids.push(i);
  ids.sort((a, b) => scores[b]! - scores[a]! || a - b);
  let hits = 0;
  for (const id of ids.slice(0, 3)) if (truth.has(id)) hits++;
  return hits / Math.min(3, truth.size);
}

/** Accumulates validation sums in the weight's layout; `finish(weight)` divides them by the FedAvg weight. */
export class HeadGateSums {
  private readonly sums = new Float64Array(HEAD_GATE_SIZE);

  add(o: GateObservation): void {
    const C = o.interestRule.length;
    if (o.interestTruth.size > 0) {
      this.sums[INTEREST_USERS]! += 1;
      const blended = new Float64Array(C);
      HEAD_GATE_GRID.forEach((alpha, g) => {
        for (let c = 0; c < C; c++) blended[c] = blendLogit(o.interestRule[c]!, o.interestTrained[c]!, alpha);
        this.sums[g]! += precisionAt3(blended, o.interestTruth);
      });
    }
    this.sums[PROPENSITY_USERS]! += 1;
    const at = o.purchased ? POSITIVE : NEGATIVE;
    HEAD_GATE_GRID.forEach((alpha, g) => {
      this.sums[at + g * AUC_BINS + logitBin(blendLogit(o.propensityRule, o.propensityTrained, alpha))]! += 1;
    });
  }

  finish(weight: number): Float32Array {
    return Float32Array.from(this.sums, (v) => v / weight);
  }
}
