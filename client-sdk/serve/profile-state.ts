import type { BehaviourEvent } from '../../shared/data/events.js';
import { FedProfileError } from '../../shared/errors.js';
import type { UserProfile } from '../../shared/model/profile.js';
import type { LocalProfiler } from '../local-profiler.js';

export interface SegmentSummary { segment: number; label: string; users: number }
export interface SegmentMember { userId: string; propensity: number; tier: number; lapsed: boolean }

/**
 * The merchant's users, their events and their current profiles, in memory. Profiles are computed ahead of the
 * reads (at start, after each batch of new events, after each model update), so a GET is a map lookup.
 */
export class ProfileState {
  private readonly events = new Map<string, BehaviourEvent[]>();
  private readonly profiles = new Map<string, UserProfile>();
  /** Each profile's JSON, serialised once per recomputation rather than once per read. */
  private readonly json = new Map<string, string>();
  private profiler: LocalProfiler;
  /** Serialises recomputations so a model swap and an event batch never interleave. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(profiler: LocalProfiler, private readonly batchSize = 256) { this.profiler = profiler; }

  get users(): number { return this.profiles.size; }
  get modelRound(): number | undefined { return this.profiler.round; }

  /** Loads a user -> events map (e.g. the cleaned data file) and profiles everyone. */
  load(users: ReadonlyMap<string, readonly BehaviourEvent[]>): Promise<void> {
    for (const [userId, evs] of users) this.events.set(userId, [...evs]);
    return this.serial(() => this.recompute([...this.events.keys()]));
  }

  /** Appends events and recomputes the profiles of the users they belong to; resolves when those are current. */
  addEvents(batch: readonly BehaviourEvent[]): Promise<{ users: number }> {
    const touched = new Set<string>();
    for (const e of batch) {
      let list = this.events.get(e.userId);
      if (!list) this.events.set(e.userId, (list = []));
      // Events usually arrive in time order; keep the list sorted either way.
      if (list.length > 0 && list[list.length - 1]!.timestamp > e.timestamp) {
        const at = list.findIndex((x) => x.timestamp > e.timestamp);
        list.splice(at, 0, e);
      } else {
        list.push(e);
      }
      touched.add(e.userId);
    }
    return this.serial(async () => { this.recompute([...touched]); return { users: touched.size }; });
  }

  /** Swaps in a new model (e.g. the federation's next round) and recomputes every profile with it. */
  replaceProfiler(next: LocalProfiler): Promise<void> {
    return this.serial(async () => {
      const old = this.profiler;
      this.profiler = next;
      this.recompute([...this.events.keys()]);
      old.close();
    });
  }

  profile(userId: string): UserProfile {
    const p = this.profiles.get(userId);
    if (!p) throw new FedProfileError('NOT_FOUND', `no profile for user "${userId}": this merchant has no events for them`);
    return p;
  }

  /** The profile as JSON text (what GET /profiles/:userId sends). */
  profileJson(userId: string): string {
    const j = this.json.get(userId);
    if (j === undefined) this.profile(userId);
    return j!;
  }

  segments(): SegmentSummary[] {
    const by = new Map<number, SegmentSummary>();
    for (const p of this.profiles.values()) {
      const s = by.get(p.segment) ?? { segment: p.segment, label: p.segmentLabel, users: 0 };
      s.users++;
      by.set(p.segment, s);
    }
    return [...by.values()].sort((a, b) => a.segment - b.segment);
  }

  members(segment: number): SegmentMember[] {
    const out: SegmentMember[] = [];
    for (const [userId, p] of this.profiles) {
      if (p.segment === segment) out.push({ userId, propensity: p.propensity, tier: p.spendingTier.tier, lapsed: p.activity.lapsed });
    }
    return out.sort((a, b) => b.propensity - a.propensity || (a.userId < b.userId ? -1 : 1));
  }

  close(): void { this.profiler.close(); }

  private recompute(userIds: readonly string[]): void {
    for (let i = 0; i < userIds.length; i += this.batchSize) {
      const chunk = userIds.slice(i, i + this.batchSize).filter((id) => (this.events.get(id)?.length ?? 0) > 0);
      const profiles = this.profiler.profile(chunk.map((userId) => ({ userId, events: this.events.get(userId)! })));
      for (const p of profiles) {
        this.profiles.set(p.userKey, p);
        this.json.set(p.userKey, JSON.stringify(p));
      }
    }
  }

  private serial<T>(task: () => T | Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
