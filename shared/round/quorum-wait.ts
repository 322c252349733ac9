/** Why a running federation has no round in progress, when the reason is too few clients. */
export interface QuorumWait { needed: number; online: number; message: string }

/**
 * A running federation between rounds that cannot start one because fewer than `needed` clients are
 * online is waiting on a quorum; say so in the words the API, the dashboard and the logs all use.
 */
export function quorumWait(s: { status: string; busy: boolean; online: number; needed: number; roundsLeft: boolean }): QuorumWait | undefined {
  if (s.status !== 'running' || s.busy || !s.roundsLeft || s.online >= s.needed) return undefined;
  return { needed: s.needed, online: s.online, message: `waiting for ${s.needed} clients, ${s.online} online` };
}
