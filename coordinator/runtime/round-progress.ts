import type { RoundCommand as OrchestratorCommand, RoundEvent as OrchestratorEvent } from '../../shared/round/types.js';

/** Where one participant is within the current (or last) round. */
export type ClientRoundState = 'training' | 'update sent' | 'failed' | 'disconnected' | 'aggregated' | 'left out';

export interface RoundProgress {
  round: number;
  status: 'running' | 'committing' | 'completed' | 'failed';
  clients: Record<string, { state: ClientRoundState; detail?: string }>;
}

type Input = { event: OrchestratorEvent } | { command: OrchestratorCommand };

/**
 * Folds the orchestrator's events and commands into each participant's state in the round, for the
 * operator: who is still training, who sent its update, who failed (and why), who dropped.
 */
export function nextRoundProgress(p: RoundProgress | undefined, input: Input): RoundProgress | undefined {
  if ('command' in input) {
    const c = input.command;
    if (c.type === 'round-started') {
      return { round: c.round, status: 'running', clients: Object.fromEntries(c.participants.map((id) => [id, { state: 'training' as const }])) };
    }
    if (!p) return p;
    if (c.type === 'commit' && c.summary.round === p.round) {
      const contributed = new Set(c.summary.contributors);
      const clients = mapClients(p, (id, s) => (contributed.has(id) ? { state: 'aggregated' } : s.state === 'failed' || s.state === 'disconnected' ? s : { state: 'left out', detail: 'no update in time' }));
      return { ...p, status: 'committing', clients };
    }
    if (c.type === 'round-failed' && c.round === p.round) return { ...p, status: 'failed' };
    return p;
  }
  const e = input.event;
  if (!p) return p;
  if (e.type === 'committed' && e.round === p.round) return { ...p, status: 'completed' };
  if (p.status !== 'running') return p;
  const has = (id: string): boolean => Object.hasOwn(p.clients, id);
  if (e.type === 'fit-meta' && e.round === p.round && has(e.from)) return withClient(p, e.from, { state: 'update sent' });
  if (e.type === 'fit-failed' && e.round === p.round && has(e.from)) return withClient(p, e.from, { state: 'failed', detail: e.reason });
  if (e.type === 'client-offline' && has(e.clientId) && p.clients[e.clientId]!.state !== 'failed') {
    return withClient(p, e.clientId, { state: 'disconnected' });
  }
  return p;
}

function withClient(p: RoundProgress, id: string, s: { state: ClientRoundState; detail?: string }): RoundProgress {
  return { ...p, clients: { ...p.clients, [id]: s } };
}

function mapClients(p: RoundProgress, f: (id: string, s: RoundProgress['clients'][string]) => RoundProgress['clients'][string]): RoundProgress['clients'] {
  return Object.fromEntries(Object.entries(p.clients).map(([id, s]) => [id, f(id, s)]));
}
