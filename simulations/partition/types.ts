/**
 * What a partitioner needs to know about one unit of data. A unit is one user's events (for `natural`, one
 * user's events at one merchant, since a merchant only ever sees its own part of a user). Units are never
 * split between clients.
 */
export interface PartitionUnit {
  id: string;
  merchantId?: string;
  numEvents: number;
  /** Event counts per raw category id. */
  categoryCounts: Record<string, number>;
}

export interface ClientShard {
  clientId: string;
  unitIds: string[];
}

export interface PartitionStats {
  scheme: string;
  units: number;
  /** Units not given to any client (e.g. merchants beyond `clients` under natural). */
  unitsUnassigned: number;
  clients: number;
  emptyClients: string[];
  unitsPerClient: { min: number; max: number; mean: number };
  eventsPerClient: { min: number; max: number; mean: number };
  /**
   * Mean total-variation distance between each client's event category distribution and the global one,
   * weighted by client events: 0 = every client looks like the whole, 1 = disjoint categories.
   */
  categoryDivergence: number;
}

export interface PartitionResult {
  /** Non-empty clients, in a stable order. */
  clients: ClientShard[];
  stats: PartitionStats;
}
