import { join } from 'node:path';
import type { ModelConfig } from '../shared/model/config.js';
import type { WeightManifest } from '../shared/weights/manifest.js';
import { loadArtifacts, saveArtifacts, type SavedModel } from '../shared/weights/index.js';

/** Global model of every round as TF.js artifacts: <dataDir>/checkpoints/<federation>/round-000007/. */
export class CheckpointStore {
  constructor(private readonly dataDir: string) {}

  dir(federationId: string, round: number): string {
    return join(this.dataDir, 'checkpoints', federationId, `round-${String(round).padStart(6, '0')}`);
  }

  /** Writes atomically (weights first, model.json last) and returns the content hash. */
  save(federationId: string, round: number, model: { modelConfig: ModelConfig; manifest: WeightManifest; values: Float32Array }): Promise<string> {
    return saveArtifacts(this.dir(federationId, round), { ...model, metadata: { federationId, round } });
  }

  /** Loads and verifies (SHA-256 of weights.bin) a round's checkpoint. */
  load(federationId: string, round: number): Promise<SavedModel> {
    return loadArtifacts(this.dir(federationId, round));
  }
}
