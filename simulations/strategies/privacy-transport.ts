import type {
  AggregationOutcome, ClientAggregationSession, Outbound, ServerAggregationSession,
} from '../../shared/aggregation/seam.js';
import { FedProfileError } from '../../shared/errors.js';
import { encodeMessage } from '../../shared/protocol/codec.js';

/**
 * Delivers the messages of one aggregation round between a server session and its client sessions, in
 * memory, exactly as the socket gateway would: the sessions are the real ones (plain or SecAgg+), only the
 * wire is replaced. Byte counts are the sizes of the real binary envelopes. Failures are injected:
 * - a dropout disconnects after sending `dropAfter` messages: the server is told (as on a socket close);
 * - a straggler stays connected and silent: the server only learns at the stage deadline (expire()).
 */
export interface InMemoryRoundInput {
  server: ServerAggregationSession;
  clients: ReadonlyMap<string, ClientAggregationSession>;
  /** Updates of the clients that finished training. Clients without one never submit. */
  updates: ReadonlyMap<string, { update: Float32Array; weight: number }>;
  /** Client id -> number of messages it sends before disconnecting (0 = before its first). */
  dropAfter?: ReadonlyMap<string, number>;
  stragglers?: ReadonlySet<string>;
}

export interface InMemoryRoundResult {
  outcome: AggregationOutcome;
  bytesUp: number;
  bytesDown: number;
  messagesUp: number;
  messagesDown: number;
  /** Seconds spent inside the sessions (masking, key agreement, unmasking), excluding byte counting. */
  sessionSeconds: number;
  deadlines: number;
}

interface Envelope { from: string; out: Outbound }

const MAX_DEADLINES = 16;

export function runAggregationInMemory(input: InMemoryRoundInput): InMemoryRoundResult {
  const { server, clients, updates } = input;
  const dropAfter = input.dropAfter ?? new Map<string, number>();
  const stragglers = input.stragglers ?? new Set<string>();
  const sent = new Map<string, number>();
  const gone = new Set<string>();
  const queue: Envelope[] = [];
  let bytesUp = 0;
  let bytesDown = 0;
  let messagesUp = 0;
  let messagesDown = 0;
  let sessionMs = 0;
  let deadlines = 0;

  const timed = <T>(f: () => T): T => {
    const t0 = performance.now();
    try { return f(); } finally { sessionMs += performance.now() - t0; }
  };
  const size = (o: Outbound) => encodeMessage({ type: o.type, payload: o.payload }).byteLength;
  const disconnect = (id: string) => {
    if (gone.has(id)) return;
    gone.add(id);
    queue.push(...timed(() => server.dropped(id)).map((out) => ({ from: 'server', out })));
  };
  const fromClient = (id: string, outs: Outbound[]) => {
    for (const out of outs) {
      if (gone.has(id)) return;
      const limit = dropAfter.get(id);
      if (limit !== undefined && (sent.get(id) ?? 0) >= limit) { disconnect(id); return; }
      sent.set(id, (sent.get(id) ?? 0) + 1);
      queue.push({ from: id, out });
    }
  };

  const participants = [...clients.keys()];
  queue.push(...timed(() => server.begin(participants)).map((out) => ({ from: 'server', out })));
  for (const id of participants) {
    if (dropAfter.get(id) === 0) { disconnect(id); continue; }
    const u = updates.get(id);
    if (u && !stragglers.has(id)) fromClient(id, timed(() => clients.get(id)!.submit(u.update, u.weight)));
  }

  for (;;) {
    while (queue.length > 0) {
      const { from, out } = queue.shift()!;
      if (from === 'server') {
        if (gone.has(out.to) || stragglers.has(out.to)) continue;
        const c = clients.get(out.to);
        if (!c) throw new FedProfileError('PROTOCOL', `server addressed unknown client ${out.to}`);
        bytesDown += size(out);
        messagesDown++;
        fromClient(out.to, timed(() => c.handle(out.type, out.payload)));
      } else {
        bytesUp += size(out);
        messagesUp++;
        queue.push(...timed(() => server.handle(from, out.type, out.payload)).map((o) => ({ from: 'server', out: o })));
      }
    }
    if (server.outcome().status !== 'pending') break;
    if (deadlines >= MAX_DEADLINES) break;
    deadlines++;
    queue.push(...timed(() => server.expire()).map((out) => ({ from: 'server', out })));
  }
  const outcome = server.outcome();
  return {
    outcome: outcome.status === 'pending' ? { status: 'aborted', reason: `still pending after ${deadlines} deadlines` } : outcome,
    bytesUp, bytesDown, messagesUp, messagesDown, sessionSeconds: sessionMs / 1000, deadlines,
  };
}
