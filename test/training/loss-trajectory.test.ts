import { expect } from 'chai';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { initBackend } from '../../shared/tf/index.js';
import { trainLocal, type TrainOptions } from '../../shared/training/trainer.js';
import { TINY, cycleExamples } from './fixtures.js';

/**
 * The per-step losses of 23 single-engine trainLocal steps, recorded before the step was rearranged for speed
 * (layouts, fused kernels, data parallelism). Speed work must not change the arithmetic beyond float noise.
 * The finetune trajectory was re-recorded when the profile heads became wide & deep (a different objective).
 */
const RECORDED: Record<'pretrain' | 'finetune', number[]> = {
  pretrain: [3.681363582611084, 3.6461329460144043, 3.7516355514526367, 3.6151838302612305, 3.4013705253601074, 3.49607515335083, 3.4993793964385986, 3.2198474407196045, 3.1042280197143555, 3.2155497074127197, 3.4485480785369873, 3.241137742996216, 2.9524054527282715, 2.958097219467163, 2.745866298675537, 2.944491147994995, 2.65449857711792, 2.8458898067474365, 3.426110029220581, 2.5938775539398193, 3.0423121452331543, 2.930753707885742, 3.0661332607269287],
  finetune: [9.964522361755371, 8.966469764709473, 7.289632797241211, 7.695675373077393, 7.263991832733154, 8.016301155090332, 8.077835083007812, 6.540740966796875, 7.871142864227295, 6.52882719039917, 6.423933029174805, 6.367606163024902, 6.407810211181641, 6.483298301696777, 6.533444881439209, 6.636198043823242, 5.780795574188232, 6.150055885314941, 6.228975772857666, 5.952714920043945, 6.329722881317139, 5.803952217102051, 5.9699811935424805],
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
