import type { ModelConfig } from '../model/config.js';
import { splitByTime, type SplitOptions, type TimeSplit } from './clean.js';
import type { UserExample } from './encoded.js';
import type { BehaviourEvent } from './events.js';
import type { Hasher } from './hashing.js';
import { deriveLabels, spendingTier, type TierSource } from './labels.js';
import { encodeSequence, NO_ITEM } from './sequence.js';
import { defaultTierThresholds } from './tiers.js';

/**
 * How each user's events become test / validation / train parts:
 * - 'time-window': the last fractions of the user's events (splitByTime);
 * - 'leave-one-out': the last item event is the test target, the item event before it the validation target,
 *   everything before trains (SASRec / BERT4Rec protocol).
 */
export type EvaluationProtocol = 'time-window' | 'leave-one-out';

export interface BuildExamplesOptions {
  protocol?: EvaluationProtocol;
  /** Per-user time split (see splitByTime); time-window protocol only. */
  split?: SplitOptions;
  tierThresholds?: readonly number[];
  /**
   * Training label-window length in events. Default: the user's test window length
   * (max(1, round(testFraction·n))), so train labels look like test labels.
   */
  labelWindow?: number;
  /** Fewest history events an example may have. Default 1. */
  minHistory?: number;
  /**
   * Extra training examples from earlier cut points of the train part (history = train[0:c], labels =
   * train[c:c+labelWindow]), stepping back by `prefixStride` (default labelWindow), at most
   * `maxPrefixesPerUser` (default 8) per user. Off by default.
   */
  slidingPrefixes?: boolean;
  prefixStride?: number;
  maxPrefixesPerUser?: number;
}

export interface BuildExamplesReport {
  users: number;
  /** Users that could not give a test example (fewer than split.minEventsToSplit events). */
  usersWithoutTest: number;
  train: number;
  validation: number;
  test: number;
  /** How the tier labels were obtained, over all examples. */
  tierSources: Record<TierSource, number>;
}

export interface ExampleSets {
  train: UserExample[];
  validation: UserExample[];
  test: UserExample[];
  report: BuildExamplesReport;
}

/**
 * Builds model examples from cleaned per-user events (oldest first, see cleanEvents). For every user the time
 * split gives: test = (history: train+validation part, labels: test part); validation = (history: train part,
 * labels: validation part); train = (history: train part minus its last labelWindow events, labels: those
 * events), plus sliding prefixes when asked. Deterministic: users in map order, prefixes oldest cut first.
 */
const isItemEvent = (e: BehaviourEvent): boolean => e.itemId !== NO_ITEM && e.action !== 'search';

/**
 * Leave-one-out split of one user's events (oldest first, as cleanEvents gives them, ties kept in arrival
 * order): test = from the last item event on, validation = from the item event before it, train = the rest.
 * Users with fewer than three item events only train.
 */
export function splitLeaveOneOut(events: readonly BehaviourEvent[]): TimeSplit {
  const itemAt: number[] = [];
  events.forEach((e, i) => { if (isItemEvent(e)) itemAt.push(i); });
  if (itemAt.length < 3) return { train: [...events], validation: [], test: [] };
  const iTest = itemAt[itemAt.length - 1]!;
  const iVal = itemAt[itemAt.length - 2]!;
  return { train: events.slice(0, iVal), validation: events.slice(iVal, iTest), test: events.slice(iTest) };
}

/** Hashed item ids of a history's item events, oldest first: what the ranking excludes and statistics count. */
export function historyItems(events: readonly BehaviourEvent[], hasher: Hasher): Int32Array {
  const out: number[] = [];
  for (const e of events) if (isItemEvent(e)) out.push(hasher.item(e.itemId));
  return Int32Array.from(out);
}

export function buildExamples(
  userEvents: ReadonlyMap<string, readonly BehaviourEvent[]>,
  hasher: Hasher,
  cfg: ModelConfig,
  opts: BuildExamplesOptions = {},
): ExampleSets {
  const thresholds = opts.tierThresholds ?? defaultTierThresholds(cfg.numTiers);
  const minHistory = Math.max(1, opts.minHistory ?? 1);
  const looProtocol = opts.protocol === 'leave-one-out';
  const testFraction = opts.split?.testFraction ?? 0.1;
  const out: ExampleSets = {
    train: [], validation: [], test: [],
    report: { users: 0, usersWithoutTest: 0, train: 0, validation: 0, test: 0, tierSources: { basket: 0, viewed: 0, history: 0, default: 0 } },
  };

  const make = (userKey: string, history: readonly BehaviourEvent[], window: readonly BehaviourEvent[]): UserExample => {
    out.report.tierSources[spendingTier(window, cfg.numTiers, thresholds, history).source]++;
    return {
      userKey, input: encodeSequence(history, hasher, cfg), labels: deriveLabels(window, hasher, cfg, thresholds, history),
      history: historyItems(history, hasher),
    };
  };

  for (const [userId, events] of userEvents) {
    out.report.users++;
    const userKey = hasher.userKey(userId);
    const { train, validation, test } = looProtocol ? splitLeaveOneOut(events) : splitByTime(events, opts.split);
    if (test.length === 0) out.report.usersWithoutTest++;
    if (test.length > 0 && train.length + validation.length >= minHistory) out.test.push(make(userKey, [...train, ...validation], test));
    if (validation.length > 0 && train.length >= minHistory) out.validation.push(make(userKey, train, validation));

    const window = opts.labelWindow ?? (looProtocol ? 1 : Math.max(1, Math.round(testFraction * events.length)));
    const lastCut = train.length - window;
    const cuts: number[] = [];
    if (lastCut >= minHistory) {
      cuts.push(lastCut);
      if (opts.slidingPrefixes) {
        const stride = Math.max(1, opts.prefixStride ?? window);
        const maxCuts = Math.max(1, opts.maxPrefixesPerUser ?? 8);
        for (let c = lastCut - stride; c >= minHistory && cuts.length < maxCuts; c -= stride) cuts.push(c);
      }
    }
    for (const c of cuts.reverse()) out.train.push(make(userKey, train.slice(0, c), train.slice(c, c + window)));
  }
  out.report.train = out.train.length;
  out.report.validation = out.validation.length;
  out.report.test = out.test.length;
  return out;
}
