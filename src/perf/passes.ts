// The model passes the profiler and the benchmarks time, defined once: a forward pass, an attack
// step (forward + gradient of the summed cross-entropy w.r.t. the input only, as bench/models.js
// and the attacks compute it) and a training step (train-mode forward, cross-entropy with label
// smoothing 0.1, backward to every parameter, one AdamW update, as bench/train.js).
import { Tensor, tensor, noGrad } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import { ImageClassifier } from '../models/classifier';
import { AdamW, decayMatricesOnly } from '../train';

export type PassName = 'forward' | 'attack' | 'train';
export const PASSES: readonly PassName[] = ['forward', 'attack', 'train'];

/** A seeded [batch, 3, size, size] input in [0, 1) (an LCG, the same images as bench/models.js). */
export function seededImages(batch: number, size: number, seed = 12345): Tensor {
  const data = new Float32Array(batch * 3 * size * size);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 4294967296;
  }
  return tensor(data, [batch, 3, size, size]);
}

/** A function running one `pass` of `model` on `batch` seeded images of side `size`. */
export function modelPass(model: ImageClassifier, pass: PassName, batch: number, size: number): () => void {
  const x = seededImages(batch, size);
  const labels = Int32Array.from({ length: batch }, (_, i) => (i * 7) % model.numClasses);
  if (pass === 'forward') {
    model.eval();
    return () => void noGrad(() => model.forward(x));
  }
  if (pass === 'attack') {
    model.eval().setRequiresGrad(false);
    return () => {
      const xg = tensor(x.data, x.shape, { requiresGrad: true });
      ops.crossEntropy(model.forward(xg), labels, { reduction: 'sum' }).backward();
    };
  }
  model.train().setRequiresGrad(true);
  const opt = new AdamW(model, { lr: 1e-3, weightDecay: 0.05, decay: decayMatricesOnly });
  return () => {
    opt.zeroGrad();
    ops.crossEntropy(model.forward(x), labels, { labelSmoothing: 0.1 }).backward();
    opt.step();
  };
}
