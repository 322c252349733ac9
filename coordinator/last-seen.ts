/**
 * When each connected client was last heard from (any message or socket heartbeat). Kept in memory and
 * written to the store at most once per `persistEveryMs` per client, and on disconnect, so a busy
 * federation does not turn heartbeats into a stream of fsynced writes.
 */
export class LastSeen {
  private readonly seenAt = new Map<string, number>();
  private readonly persistedAt = new Map<string, number>();

  constructor(
    private readonly persist: (clientId: string, at: number) => void,
    private readonly persistEveryMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  seen(clientId: string): void {
    const at = this.now();
    this.seenAt.set(clientId, at);
    if (at - (this.persistedAt.get(clientId) ?? -Infinity) >= this.persistEveryMs) this.write(clientId, at);
  }

  get(clientId: string): number | undefined { return this.seenAt.get(clientId); }

  /** On disconnect: the last moment the client was heard from becomes durable. */
  gone(clientId: string): void {
    const at = this.seenAt.get(clientId);
    if (at !== undefined) this.write(clientId, at);
    this.seenAt.delete(clientId);
    this.persistedAt.delete(clientId);
  }

  private write(clientId: string, at: number): void {
    this.persistedAt.set(clientId, at);
    this.persist(clientId, at);
  }
}
