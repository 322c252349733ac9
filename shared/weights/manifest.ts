/** Names, shapes and order of a model's weights, so one flat Float32Array can travel and be rebuilt. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32';
}

export interface WeightManifest {
  specs: WeightSpec[];
  /** Sum of the specs' element counts = length of the flat vector. */
  totalSize: number;
}
