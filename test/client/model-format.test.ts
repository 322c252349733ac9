import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initialGlobalWeights } from '../../shared/model/init.js';
import { initBackend } from '../../shared/tf/backend.js';
import { fileIOHandler, loadArtifacts, saveArtifacts } from '../../shared/weights/artifacts.js';

const MODEL = {
  itemVocab: 16, categoryVocab: 4, priceBuckets: 0, gapBuckets: 0, textVocab: 0, textTokens: 0, useActions: false,
  maxLen: 4, dModel: 4, layers: 1, heads: 1, ffDim: 4, dropout: 0, numTiers: 2,
};

describe('the README names the model format truthfully (issue item 10)', function () {
  this.timeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'fp-format-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('tf.loadLayersModel and tf.loadGraphModel refuse the files, loadArtifacts opens them, and the README says so', async () => {
    await initBackend('cpu');
    const { manifest, values } = await initialGlobalWeights(MODEL, 1);
    await saveArtifacts(dir, { modelConfig: MODEL, manifest, values, metadata: {} });
    let layers: unknown;
    await tf.loadLayersModel(fileIOHandler(dir)).catch((e: unknown) => { layers = e; });
    expect(layers, 'loadLayersModel').to.be.instanceOf(Error);
    let graph: unknown;
    await tf.loadGraphModel(fileIOHandler(dir)).catch((e: unknown) => { graph = e; });
    expect(graph, 'loadGraphModel').to.be.instanceOf(Error);
    expect(Array.from((await loadArtifacts(dir)).values)).to.deep.equal(Array.from(values));

    const readme = readFileSync('README.md', 'utf8');
    expect(readme).to.not.match(/standard TF\.js artifact/i);
    expect(readme).to.contain('`tf.loadLayersModel` and `tf.loadGraphModel` cannot open it');
  });
});
