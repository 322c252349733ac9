export type { WeightManifest, WeightSpec } from './manifest.js';
export { buildManifest, validateManifest, assertVectorMatches, offsets, sliceByName, specSize } from './layout.js';
export { flattenTensors, unflattenToTensors, type NamedTensor } from './flatten.js';
export { weightsHash, canonicalManifestJson } from './hash.js';
export { computeDelta, applyDelta, l2Norm } from './delta.js';
export { encodeVector, decodeVector, inspectEncodedVector, DEFAULT_Q8_CHUNK, type VectorCodec, type EncodeOptions } from './codec.js';
export { float32ToHalfBits, float32BitsToHalfBits, halfBitsToFloat32, halfToFloat32Table } from './half.js';
export {
  fileIOHandler, saveArtifacts, loadArtifacts, toModelArtifacts, MODEL_JSON, WEIGHTS_BIN, ARTIFACT_FORMAT,
  type SavedModel, type ArtifactMetadata,
} from './artifacts.js';
export { HOST_IS_LITTLE_ENDIAN, float32ToLittleEndianBytes, float32FromLittleEndianBytes } from './bytes.js';
