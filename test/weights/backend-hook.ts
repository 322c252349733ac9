import { initBackend } from '../../shared/tf/index.js';

/**
 * Tests that call tfjs directly must not depend on which suite happened to load a backend first: importing
 * the wasm backend registers it above cpu without initialising it. Initialise the project's backend once.
 */
export function useBackend(): void {
  before(async () => { await initBackend(); });
}
