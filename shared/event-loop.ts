/**
 * Lets queued I/O callbacks (socket reads, heartbeats, timers) run before the caller continues: the one
 * yield used wherever vector-sized work is cut into chunks on the main thread.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
