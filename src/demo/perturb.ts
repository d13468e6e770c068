// What an attack or a noise may change in the demo's digits. The digits are one grey channel stored
// three times; with 'grey' (the default) a perturbation lives in that one real channel, as on a
// grey-scale model: the attacked model sees channel 0 copied into all three, so an attack's
// gradient and step are those of the grey image, and noise is drawn once and added to every copy.
// 'rgb' perturbs the three copies independently, directions the first layer never saw in training.
import { Tensor } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import type { ImageClassifier } from '../models/classifier';
import type { Classifier } from '../models/evaluate';

export type Perturbation = 'grey' | 'rgb';
export const PERTURBATIONS: readonly Perturbation[] = ['grey', 'rgb'];

/** x [N, 3, H, W] with channel 0 copied into all three (differentiable: the gradient lands on channel 0). */
export function greyOf(x: Tensor): Tensor {
  const grey = ops.slice(x, 1, 0, 1);
  return ops.cat([grey, grey, grey], 1);
}

/** The model as an attack sees it under `perturb`. */
export function attackedModel(model: ImageClassifier, perturb: Perturbation): Classifier {
  return perturb === 'grey' ? (x: Tensor) => model.forward(greyOf(x)) : model;
}

/** The frequency-noise option that matches `perturb`. */
export function noiseChannels(perturb: Perturbation): 'shared' | 'independent' {
  return perturb === 'grey' ? 'shared' : 'independent';
}
