// src/train: optimisers, the learning-rate schedule, adversarial training, augmentations and the fit loop.
export { Optimizer, SGD, AdamW, clipGradNorm, decayMatricesOnly } from './optim';
export type { SgdOptions, AdamWOptions, DecayFilter, NamedParameters } from './optim';
export { cosineLr } from './schedule';
export type { CosineOptions } from './schedule';
export { checkAdversarial, epsRamp, pgdExamples, tradesExamples, tradesLoss } from './adversarial';
export type { AdversarialOptions, AdversarialMethod } from './adversarial';
export { saveCheckpoint, loadCheckpoint, CHECKPOINT_FORMAT } from './checkpoint';
export type { TrainingProgress } from './checkpoint';
export { fit } from './fit';
export type { FitOptions, FitResult, EpochMetrics, StepInfo, OptimizerSpec } from './fit';
import * as augment from './augment';
export { augment };
export type { AugmentSpec, NamedAugment, AugmentFunction } from './augment';
