import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one coordinator (own registry, so several coordinators can share a process). */
export class CoordinatorMetrics {
  readonly registry = new Registry();
  readonly roundsTotal = new Counter({ name: 'fedprofile_rounds_total', help: 'Rounds finished, by status', labelNames: ['federation', 'status'], registers: [this.registry] });
  readonly clientsOnline = new Gauge({ name: 'fedprofile_clients_online', help: 'Clients connected now', labelNames: ['federation'], registers: [this.registry] });
  readonly bytesIn = new Counter({ name: 'fedprofile_bytes_in_total', help: 'Protocol bytes received from clients', registers: [this.registry] });
  readonly bytesOut = new Counter({ name: 'fedprofile_bytes_out_total', help: 'Protocol bytes sent to clients', registers: [this.registry] });
  readonly roundDuration = new Histogram({
    name: 'fedprofile_round_duration_seconds', help: 'Wall time from selection to commit of completed rounds',
    labelNames: ['federation'], buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800], registers: [this.registry],
  });
  readonly rejected = new Counter({ name: 'fedprofile_rejected_messages_total', help: 'Client messages rejected, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly dpEpsilon = new Gauge({ name: 'fedprofile_dp_epsilon', help: 'Differential privacy ε spent so far (RDP accountant, at the federation\'s δ)', labelNames: ['federation'], registers: [this.registry] });
  readonly dpEpsilonBudget = new Gauge({ name: 'fedprofile_dp_epsilon_budget', help: 'The federation\'s ε budget; no round starts that would pass it', labelNames: ['federation'], registers: [this.registry] });
  readonly authFailures = new Counter({ name: 'fedprofile_auth_failures_total', help: 'Refused socket handshakes, by reason', labelNames: ['reason'], registers: [this.registry] });

  constructor(collectProcessMetrics = false) {
    if (collectProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'fedprofile_' });
  }
}
