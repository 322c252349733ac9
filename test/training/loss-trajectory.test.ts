import { expect } from 'chai';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { initBackend } from '../../shared/tf/index.js';
import { trainLocal, type TrainOptions } from '../../shared/training/trainer.js';
import { TINY, cycleExamples } from './fixtures.js';

/**
 * The per-step losses of 23 single-engine trainLocal steps, recorded before the step was rearranged for speed
 * (layouts, fused kernels, data parallelism). Speed work must not change the arithmetic beyond float noise.
 */
const RECORDED: Record<'pretrain' | 'finetune', number[]> = {
  pretrain: [3.681363582611084, 3.6461329460144043, 3.7516355514526367, 3.6151838302612305, 3.4013705253601074, 3.49607515335083, 3.4993793964385986, 3.2198474407196045, 3.1042280197143555, 3.2155497074127197, 3.4485480785369873, 3.241137742996216, 2.9524054527282715, 2.958097219467163, 2.745866298675537, 2.944491147994995, 2.65449857711792, 2.8458898067474365, 3.426110029220581, 2.5938775539398193, 3.0423121452331543, 2.930753707885742, 3.0661332607269287],
  finetune: [4.375510215759277, 4.269396781921387, 4.096799850463867, 4.231016159057617, 4.045547962188721, 4.322953701019287, 4.397050380706787, 3.888256072998047, 3.826557159423828, 4.026512622833252, 3.9412753582000732, 3.960875988006592, 3.7631616592407227, 3.705260992050171, 3.669442653656006, 3.695185661315918, 3.5296730995178223, 3.6707606315612793, 3.909398078918457, 3.5553674697875977, 3.799081325531006, 3.6349520683288574, 3.6840834617614746],
};

export function trajectory(phase: TrainOptions['phase'], extra: Partial<TrainOptions> = {}): number[] {
  const train = cycleExamples(23 * 4, TINY, 'fused-step');
  const model = ProfileModel.create(TINY, 4);
  const losses: number[] = [];
  try {
    trainLocal(model, { train }, { round: 0, phase, localEpochs: 1, batchSize: 4, learningRate: 0.01, optimizer: 'adam', seed: 7, ...extra }, (p) => losses.push(p.loss));
  } finally {
    model.dispose();
  }
  return losses;
}

describe('training/trainer: the loss trajectory stays what it was', function () {
  this.timeout(30_000);
  before(async () => { await initBackend(); });

  for (const phase of ['pretrain', 'finetune'] as const) {
    it(`${phase}: 23 single-engine steps give the recorded losses (float tolerance)`, () => {
      const losses = trajectory(phase);
      expect(losses).to.have.length(23);
      losses.forEach((l, i) => expect(l, `step ${i + 1}`).to.be.closeTo(RECORDED[phase][i]!, 1e-4 * Math.max(1, l)));
    });
  }
});
