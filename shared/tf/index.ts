export { initBackend, currentBackend, setWasmPatches, BACKEND_CHOICES } from './backend.js';
export type { BackendChoice, BackendInfo } from './backend.js';
