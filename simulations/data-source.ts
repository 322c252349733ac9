import { cleanEvents, type CleanReport } from '../shared/data/clean.js';
import type { BehaviourEvent } from '../shared/data/events.js';
import { readAllEvents, type ReadReport } from '../shared/data/readers/index.js';
import type { SimulationConfig } from './config.js';
import { generateSynthetic } from './synthetic/generate.js';

/**
 * The events of an experiment, grouped into partition units. A unit is one user; under the natural
 * partition it is one user at one merchant, because a merchant only ever holds its own part of a user.
 */
export interface SimulationData {
  /** unit id -> events, oldest first (cleaned: duplicates removed, too-short histories dropped). */
  units: Map<string, BehaviourEvent[]>;
  /** The category taxonomy when known (synthetic), so every category gets its own model id. */
  knownCategories?: string[];
  /** Latent interests (raw category ids) by unit id, when the data has a ground truth. */
  truthInterests?: Map<string, string[]>;
  report: DataReport;
}

export interface DataReport {
  source: string;
  events: number;
  users: number;
  read?: ReadReport;
  clean: CleanReport;
  generateSeconds?: number;
}

const UNIT_SEPARATOR = '@';

export async function loadSimulationData(cfg: SimulationConfig): Promise<SimulationData> {
  const d = cfg.data;
  let events: BehaviourEvent[];
  let read: ReadReport | undefined;
  let knownCategories: string[] | undefined;
  let truthByUser: Map<string, string[]> | undefined;
  let generateSeconds: number | undefined;
  if (d.source === 'synthetic') {
    const t0 = performance.now();
    const { source: _s, seed, ...opts } = d;
    const g = generateSynthetic({ ...opts, seed: seed ?? cfg.seed, numTiers: cfg.model.numTiers });
    generateSeconds = (performance.now() - t0) / 1000;
    events = g.events;
    knownCategories = g.catalogue.categories.map((c) => c.id);
    truthByUser = new Map(g.truth.map((t) => [t.userId, t.interests.map((i) => i.categoryId)]));
  } else {
    const format = d.source === 'events' ? d.format : d.source;
    const r = await readAllEvents({ path: d.path, ...(format ? { format } : {}) });
    events = r.events;
    read = r.report;
  }
  const natural = cfg.partition.type === 'natural';
  const userOfUnit = new Map<string, string>();
  const keyed = natural
    ? events.map((e) => {
      if (e.merchantId === undefined) return e;
      const unit = `${e.merchantId}${UNIT_SEPARATOR}${e.userId}`;
      userOfUnit.set(unit, e.userId);
      return { ...e, userId: unit };
    })
    : events;
  const users = new Set(events.map((e) => e.userId)).size;
  const cleaned = cleanEvents(keyed, { minEvents: cfg.examples.minEvents, maxEvents: cfg.examples.maxEventsPerUser });
  let truthInterests: Map<string, string[]> | undefined;
  if (truthByUser) {
    truthInterests = new Map();
    for (const unit of cleaned.users.keys()) {
      const userId = userOfUnit.get(unit) ?? unit;
      const t = truthByUser.get(userId);
      if (t) truthInterests.set(unit, t);
    }
  }
  return {
    units: cleaned.users,
    ...(knownCategories ? { knownCategories } : {}),
    ...(truthInterests ? { truthInterests } : {}),
    report: {
      source: d.source, events: events.length, users, clean: cleaned.report,
      ...(read ? { read } : {}), ...(generateSeconds !== undefined ? { generateSeconds } : {}),
    },
  };
}
