// The training loop: shuffled mini-batches, a cosine schedule with warm-up, gradient clipping, label
// smoothing, optional adversarial training, per-epoch metrics and resumable checkpoints. Every random
// draw (shuffle, augmentation, drop path, attack starts) is keyed by (seed, step), so a run resumed
// from a checkpoint ends with the same weights as one that never stopped.
import { checkDevice, Device } from '../tensor/device';
import { available as cudaAvailable, info as cudaInfo } from '../cuda';
import * as fs from 'fs';
import { Tensor, noGrad } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import { Rng } from '../tensor/random';
import { checkOptions, checkOneOf } from '../tensor/check';
import { LabeledDataset, loadIndices, batches } from '../io/dataset';
import { ImageClassifier } from '../models/classifier';
import { argmaxRow } from '../models/evaluate';
import { reseedDropPaths } from '../nn/drop_path';
import { Optimizer, SGD, AdamW, SgdOptions, AdamWOptions, clipGradNorm, decayMatricesOnly } from './optim';
import { cosineLr } from './schedule';
import { AdversarialOptions, checkAdversarial, epsRamp, pgdExamples, tradesExamples, tradesLoss } from './adversarial';
import { saveCheckpoint, loadCheckpoint } from './checkpoint';
import { Augmentation, AugmentSpec, softTargetCrossEntropy } from './augment';

export type OptimizerSpec = ({ type: 'sgd' } & SgdOptions) | ({ type: 'adamw' } & AdamWOptions);

export interface StepInfo {
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  lr: number;
}

export interface EpochMetrics {
  /** 1-based. */
  epoch: number;
  /** Mean training loss (on the adversarial examples under PGD-AT; TRADES' total loss). */
  trainLoss: number;
  /** Accuracy on the batches trained on (adversarial under PGD-AT, clean under TRADES; against each
   * sample's own label when MixUp/CutMix mix it). */
  trainAccuracy: number;
  /** The learning rate of the epoch's last step. */
  lr: number;
  /** eps of the epoch's last step (adversarial training). */
  eps?: number;
  seconds: number;
  valAccuracy?: number;
  valLoss?: number;
}

export interface FitOptions {
  epochs: number;
  batchSize?: number;
  optimizer?: OptimizerSpec;
  warmupEpochs?: number;
  minLr?: number;
  clipGradNorm?: number;
  labelSmoothing?: number;
  adversarial?: AdversarialOptions;
  /** A function (x, rng) => x, or named augmentations (train/augment: 'rand-m9-mstd0.5-inc1',
   * { name: 'erase', prob: 0.25 }, 'mixup', 'cutmix', ...) alone or in a list; MixUp/CutMix train
   * on soft targets (smoothed by labelSmoothing, as timm's mixup_target). */
  augment?: AugmentSpec;
  validation?: LabeledDataset;
  /** 'cpu' or 'cuda': the model trains there (and stays there afterwards, trained). Default: where it is. */
  device?: Device;
  seed?: number;
  checkpoint?: string;
  resume?: boolean;
  onStep?: (s: StepInfo) => void;
  onEpoch?: (m: EpochMetrics) => void;
  signal?: { readonly aborted: boolean };
}

export interface FitResult {
  history: EpochMetrics[];
}

const FIT_OPTIONS = [
  'epochs',
  'batchSize',
  'optimizer',
  'warmupEpochs',
  'minLr',
  'clipGradNorm',
  'labelSmoothing',
  'adversarial',
  'augment',
  'validation',
  'seed',
  'checkpoint',
  'resume',
  'onStep',
  'onEpoch',
  'signal',
  'device',
];

// Stream keys: one generator per purpose and step.
const SHUFFLE = 1,
  AUGMENT = 2,
  DROP_PATH = 3,
  ATTACK = 4;

function num(name: string, v: unknown, dflt: number, min: number, max = Infinity, integer = false): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
    throw new RangeError(
      `fit: ${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${String(v)}`,
    );
  return v;
}

function fn<T>(name: string, v: unknown): T | undefined {
  if (v !== undefined && typeof v !== 'function') throw new TypeError(`fit: ${name} must be a function`);
  return v as T | undefined;
}

function makeOptimizer(model: ImageClassifier, spec: unknown): Optimizer {
  const s = (spec ?? { type: 'adamw', lr: 1e-3, weightDecay: 0.05 }) as Record<string, unknown>;
  if (typeof s !== 'object' || s === null)
    throw new TypeError("fit: optimizer must be { type: 'sgd' | 'adamw', lr, ... }");
  const { type, ...rest } = s;
  const kind = checkOneOf('fit', 'optimizer.type', type, ['sgd', 'adamw']);
  const options = { decay: decayMatricesOnly, ...rest } as unknown as SgdOptions & AdamWOptions;
  return kind === 'sgd' ? new SGD(model, options) : new AdamW(model, options);
}

function permutation(n: number, rng: Rng): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

function abortError(): Error {
  return Object.assign(new Error('fit: aborted (the last checkpoint, if any, resumes the run)'), {
    name: 'AbortError',
  });
}

/** Clean accuracy and mean cross-entropy on a dataset, in eval mode. */
async function validate(
  model: ImageClassifier,
  data: LabeledDataset,
  batchSize: number,
): Promise<{ accuracy: number; loss: number }> {
  let correct = 0,
    loss = 0;
  for await (const b of batches(data, batchSize)) {
    const logits = noGrad(() => model.forward(b.x));
    loss += noGrad(() => ops.crossEntropy(logits, b.y, { reduction: 'sum' })).data[0];
    const K = logits.shape[1];
    for (let i = 0; i < b.y.length; i++) if (argmaxRow(logits.data, i, K) === b.y[i]) correct++;
  }
  return { accuracy: correct / data.length, loss: loss / data.length };
}

/**
 * Trains `model` in place on `data`. Batches are drawn without replacement each epoch (the last
 * incomplete one is dropped, as timm does, so BatchNorm never sees a batch of one). Weight decay
 * skips biases, norm weights and ViT tokens (timm's rule). Resolves to the per-epoch metrics; the
 * model is left in eval mode with its parameters' requiresGrad as they were.
 */
export async function fit(model: ImageClassifier, data: LabeledDataset, options: FitOptions): Promise<FitResult> {
  if (options?.device !== undefined) {
    const d = checkDevice('fit', 'device', options.device);
    if (d === 'cuda' && !cudaAvailable())
      throw new Error(`fit: device 'cuda' was asked for, but CUDA is not available: ${cudaInfo().reason}`);
    model.to(d);
  }
  if (!(model instanceof ImageClassifier))
    throw new TypeError('fit: model must be an ImageClassifier (createModel, loadModel or a model class)');
  if (typeof data !== 'object' || data === null || typeof (data as LabeledDataset).load !== 'function')
    throw new TypeError('fit: data must be a LabeledDataset (tensorDataset, imageDataset, ...)');
  if (options === undefined) throw new TypeError('fit: options { epochs, ... } are required');
  const o = checkOptions('fit', options, FIT_OPTIONS) as unknown as FitOptions;
  if (o.epochs === undefined) throw new TypeError('fit: epochs is required');
  const epochs = num('epochs', o.epochs, 0, 1, Infinity, true);
  const batchSize = num('batchSize', o.batchSize, 64, 1, Infinity, true);
  if (batchSize > data.length)
    throw new RangeError(`fit: batchSize ${batchSize} exceeds the ${data.length} training samples`);
  const seed = num('seed', o.seed, 0, 0, 2 ** 32 - 1, true);
  const labelSmoothing = num('labelSmoothing', o.labelSmoothing, 0, 0, 1);
  const clip = o.clipGradNorm === undefined ? null : num('clipGradNorm', o.clipGradNorm, 0, 0);
  const adversarial = o.adversarial === undefined ? null : checkAdversarial('fit', o.adversarial);
  // A lone function keeps the stream it always had; named specs draw per family (augment/index.ts).
  const augmentFn = typeof o.augment === 'function' ? o.augment : undefined;
  const augmentation =
    o.augment === undefined || augmentFn
      ? null
      : new Augmentation(
          o.augment,
          { mean: model.mean, std: model.std, numClasses: model.numClasses, labelSmoothing },
          'fit',
        );
  if (augmentation?.mixes && batchSize % 2 !== 0)
    throw new RangeError(
      `fit: mixup/cutmix pair each sample with the batch's flip; batchSize must be even, got ${batchSize}`,
    );
  const onStep = fn<FitOptions['onStep']>('onStep', o.onStep),
    onEpoch = fn<FitOptions['onEpoch']>('onEpoch', o.onEpoch);
  if (o.validation !== undefined && typeof o.validation?.load !== 'function')
    throw new TypeError('fit: validation must be a LabeledDataset');
  if (o.checkpoint !== undefined && typeof o.checkpoint !== 'string')
    throw new TypeError('fit: checkpoint must be a file path');
  if (o.resume && o.checkpoint === undefined)
    throw new TypeError('fit: resume needs checkpoint (the file to resume from)');

  const optimizer = makeOptimizer(model, o.optimizer);
  const stepsPerEpoch = Math.floor(data.length / batchSize);
  const warmupSteps = Math.round(num('warmupEpochs', o.warmupEpochs, 0, 0, epochs) * stepsPerEpoch);
  const lrAt = cosineLr({
    baseLr: optimizer.lr,
    totalSteps: epochs * stepsPerEpoch,
    warmupSteps,
    minLr: num('minLr', o.minLr, 0, 0),
  });

  // What a resumed run must agree on, or its continuation would not be the same training.
  const settings = {
    epochs,
    batchSize,
    seed,
    labelSmoothing,
    clip,
    adversarial,
    warmupSteps,
    samples: data.length,
    optimizer: o.optimizer ?? null,
    ...(augmentation && { augment: augmentation.settings }),
  };
  let history: EpochMetrics[] = [];
  let first = 0;
  if (o.resume && fs.existsSync(o.checkpoint!)) {
    const saved = loadCheckpoint(o.checkpoint!, model, optimizer);
    if (JSON.stringify(saved.info.settings) !== JSON.stringify(settings))
      throw new RangeError(
        `fit: checkpoint '${o.checkpoint}' was written with other settings (${JSON.stringify(saved.info.settings)}); resume with the same ones or start afresh`,
      );
    history = saved.info.history as EpochMetrics[];
    first = saved.epoch;
  }

  const params = model.namedParameters().map(([, p]) => p);
  const flags = params.map((p) => p.requiresGrad);
  params.forEach((p) => (p.requiresGrad = true));
  try {
    for (let epoch = first; epoch < epochs; epoch++) {
      const t0 = performance.now();
      const order = permutation(data.length, Rng.keyed(seed, SHUFFLE, epoch));
      let lossSum = 0,
        correct = 0,
        lr = 0,
        eps: number | undefined;
      model.train();
      for (let step = 0; step < stepsPerEpoch; step++) {
        if (o.signal?.aborted) throw abortError();
        const global = epoch * stepsPerEpoch + step;
        const batch = await loadIndices(data, order.subarray(step * batchSize, (step + 1) * batchSize));
        const { x, targets } = augmentation
          ? augmentation.apply(batch.x, batch.y, [seed, AUGMENT, global])
          : { x: augmentFn ? augmentFn(batch.x, Rng.keyed(seed, AUGMENT, global)) : batch.x, targets: null };
        const trainLoss = (logits: Tensor) =>
          targets ? softTargetCrossEntropy(logits, targets) : ops.crossEntropy(logits, batch.y, { labelSmoothing });
        reseedDropPaths(model, seed, DROP_PATH, global);
        optimizer.lr = lr = lrAt(global);

        let loss: Tensor, scored: Tensor;
        if (adversarial) {
          const ramp = epsRamp(adversarial.warmupEpochs, epoch + step / stepsPerEpoch);
          eps = adversarial.eps * ramp;
          const rng = Rng.keyed(seed, ATTACK, global);
          if (adversarial.method === 'pgd-at') {
            scored = model.forward(pgdExamples(model, x, batch.y, adversarial, ramp, rng, targets));
            loss = trainLoss(scored);
          } else {
            const xAdv = tradesExamples(model, x, adversarial, ramp, rng);
            scored = model.forward(x);
            loss = tradesLoss(scored, model.forward(xAdv), batch.y, adversarial.beta, labelSmoothing, targets);
          }
        } else {
          scored = model.forward(x);
          loss = trainLoss(scored);
        }
        optimizer.zeroGrad();
        loss.backward();
        if (clip !== null) clipGradNorm(optimizer.params, clip);
        optimizer.step();

        const K = scored.shape[1];
        for (let i = 0; i < batch.y.length; i++) if (argmaxRow(scored.data, i, K) === batch.y[i]) correct++;
        lossSum += loss.data[0];
        onStep?.({ epoch: epoch + 1, step: step + 1, stepsPerEpoch, loss: loss.data[0], lr });
      }
      model.eval();
      const m: EpochMetrics = {
        epoch: epoch + 1,
        trainLoss: lossSum / stepsPerEpoch,
        trainAccuracy: correct / (stepsPerEpoch * batchSize),
        lr,
        ...(eps === undefined ? {} : { eps }),
        seconds: 0,
      };
      if (o.validation) {
        const v = await validate(model, o.validation, batchSize);
        m.valAccuracy = v.accuracy;
        m.valLoss = v.loss;
      }
      m.seconds = (performance.now() - t0) / 1000;
      history.push(m);
      if (o.checkpoint !== undefined)
        saveCheckpoint(o.checkpoint, model, optimizer, { epoch: epoch + 1, info: { settings, history } });
      onEpoch?.(m);
    }
  } finally {
    params.forEach((p, i) => (p.requiresGrad = flags[i]));
    model.eval();
  }
  return { history };
}
