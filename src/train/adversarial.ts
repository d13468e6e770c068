// Adversarial training's inner maximisation and losses: PGD-AT (Madry et al. 2018) trains on the
// PGD-maximised cross-entropy; TRADES (Zhang et al. 2019) on CE(x) + beta * KL(p(x) || p(x')) with
// x' maximising that KL. Examples are generated in eval mode with the weights' gradients off (as
// both official codes do), and eps ramps up linearly over `warmupEpochs`, as in the robust-ViT recipe.
import { Tensor, noGrad } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import { Rng } from '../tensor/random';
import { checkOneOf } from '../tensor/check';
import { ImageClassifier } from '../models/classifier';
import { AttackSpace, attackSpace, SpaceName } from '../attacks/space';
import { lossAndGrad } from '../attacks/loss';
import { pgdUpdate, randomStart, project } from '../attacks/project';
import { softTargetCrossEntropy } from './augment/mixup';

export type AdversarialMethod = 'pgd-at' | 'trades';

export interface AdversarialOptions {
  method: AdversarialMethod;
  /** L-inf radius (pixels, or the model's std units with space 'normalized'). */
  eps: number;
  /** Step size (default 2.5 * eps / steps); it ramps with eps during the warm-up. */
  alpha?: number;
  /** Attack steps per batch (default 10). */
  steps?: number;
  /** TRADES' weight of the KL term (default 6, the paper's). */
  beta?: number;
  /** eps rises linearly from 0 to eps over these epochs (default 0: full eps from the start). */
  warmupEpochs?: number;
  space?: SpaceName;
}

export interface CheckedAdversarial {
  method: AdversarialMethod;
  eps: number;
  alpha: number;
  steps: number;
  beta: number;
  warmupEpochs: number;
  space: SpaceName;
}

export function checkAdversarial(fn: string, o: unknown): CheckedAdversarial {
  if (typeof o !== 'object' || o === null)
    throw new TypeError(`${fn}: adversarial must be an object { method, eps, ... }`);
  const a = o as Record<string, unknown>;
  const known = ['method', 'eps', 'alpha', 'steps', 'beta', 'warmupEpochs', 'space'];
  for (const k of Object.keys(a))
    if (!known.includes(k))
      throw new TypeError(`${fn}: unknown adversarial option '${k}' (known: ${known.join(', ')})`);
  const method = checkOneOf(fn, 'adversarial.method', a.method, ['pgd-at', 'trades']);
  const num = (k: string, v: unknown, min: number, open = false) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (open && v === min))
      throw new RangeError(`${fn}: adversarial.${k} must be a number ${open ? '>' : '>='} ${min}, got ${String(v)}`);
    return v;
  };
  const eps = num('eps', a.eps, 0, true);
  const steps = a.steps === undefined ? 10 : num('steps', a.steps, 1);
  if (!Number.isInteger(steps)) throw new RangeError(`${fn}: adversarial.steps must be an integer, got ${steps}`);
  const space = a.space === undefined ? 'pixel' : checkOneOf(fn, 'adversarial.space', a.space, ['pixel', 'normalized']);
  return {
    method,
    eps,
    steps,
    alpha: a.alpha === undefined ? (2.5 * eps) / steps : num('alpha', a.alpha, 0, true),
    beta: a.beta === undefined ? 6 : num('beta', a.beta, 0),
    warmupEpochs: a.warmupEpochs === undefined ? 0 : num('warmupEpochs', a.warmupEpochs, 0),
    space,
  };
}

/** The fraction of eps in force at a point of training (epochs as a real number). */
export function epsRamp(warmupEpochs: number, epochsDone: number): number {
  return warmupEpochs > 0 ? Math.min(1, epochsDone / warmupEpochs) : 1;
}

// Runs `fn` in eval mode with the parameters' gradients off, restoring both.
function generating<T>(model: ImageClassifier, fn: () => T): T {
  const params = model.namedParameters().map(([, p]) => p);
  const flags = params.map((p) => p.requiresGrad);
  const wasTraining = model.training;
  model.eval();
  params.forEach((p) => (p.requiresGrad = false));
  try {
    return fn();
  } finally {
    params.forEach((p, i) => (p.requiresGrad = flags[i]));
    model.train(wasTraining);
  }
}

/** PGD's L-inf maximiser of the cross-entropy from a uniform random start (Madry et al.); with
 * soft `targets` [N, K] (MixUp/CutMix), of the soft-target cross-entropy the model trains on. */
export function pgdExamples(
  model: ImageClassifier,
  x: Tensor,
  y: Int32Array,
  a: CheckedAdversarial,
  scale: number,
  rng: Rng,
  targets: Tensor | null = null,
): Tensor {
  const eps = a.eps * scale,
    alpha = a.alpha * scale,
    shape = x.shape;
  if (eps === 0) return x;
  return generating(model, () => {
    const space = attackSpace('fit', a.space, model);
    const z0 = space.toAttack(x.data, shape);
    let z = randomStart(z0, eps, 'linf', rng, space, shape);
    const grad = (zz: Float32Array) =>
      targets ? softTargetGrad(model, space, zz, shape, targets) : lossAndGrad(model, space, zz, shape, y, 'ce').grad;
    for (let s = 0; s < a.steps; s++) z = pgdUpdate(z, grad(z), z0, eps, alpha, 'linf', space, shape);
    return new Tensor(space.toPixel(z, shape).slice(), shape);
  });
}

// d/dz of the summed soft-target cross-entropy: its gradient w.r.t. the logits is softmax(z) - t.
function softTargetGrad(
  model: ImageClassifier,
  space: AttackSpace,
  z: Float32Array,
  shape: readonly number[],
  targets: Tensor,
): Float32Array {
  const xa = new Tensor(space.toPixel(z, shape), shape, true);
  const logits = model.forward(xa);
  const p = noGrad(() => ops.softmax(logits)).data;
  logits.backward(p.map((v, i) => v - targets.data[i]));
  return space.gradToAttack(xa.grad!.data, shape);
}

/** TRADES' maximiser of KL(p(x) || p(x')) from x + 0.001 * N(0, 1), as the official code. */
export function tradesExamples(
  model: ImageClassifier,
  x: Tensor,
  a: CheckedAdversarial,
  scale: number,
  rng: Rng,
): Tensor {
  const eps = a.eps * scale,
    alpha = a.alpha * scale,
    shape = x.shape;
  if (eps === 0) return x;
  return generating(model, () => {
    const space: AttackSpace = attackSpace('fit', a.space, model);
    const z0 = space.toAttack(x.data, shape);
    const clean = noGrad(() => ops.softmax(model.forward(x)));
    let z = project(
      Float32Array.from(z0, (v) => v + 0.001 * rng.normal()),
      z0,
      eps,
      'linf',
      space,
      shape,
    );
    for (let s = 0; s < a.steps; s++) {
      const xa = new Tensor(space.toPixel(z, shape).slice(), shape, true);
      const logits = model.forward(xa);
      // d/dlogits' of sum p log(p / p') is p' - p.
      const pAdv = noGrad(() => ops.softmax(logits)).data;
      const d = new Float32Array(pAdv.length);
      for (let i = 0; i < d.length; i++) d[i] = pAdv[i] - clean.data[i];
      logits.backward(d);
      z = pgdUpdate(z, space.gradToAttack(xa.grad!.data, shape), z0, eps, alpha, 'linf', space, shape);
    }
    return new Tensor(space.toPixel(z, shape).slice(), shape);
  });
}

/** TRADES' training loss from the clean and adversarial logits: CE + beta * KL (batch mean); the CE
 * of soft `targets` [N, K] when given (MixUp/CutMix, which carry the label smoothing). */
export function tradesLoss(
  clean: Tensor,
  adv: Tensor,
  y: Int32Array,
  beta: number,
  labelSmoothing: number,
  targets: Tensor | null = null,
): Tensor {
  const natural = targets ? softTargetCrossEntropy(clean, targets) : ops.crossEntropy(clean, y, { labelSmoothing });
  const lpClean = ops.logSoftmax(clean),
    lpAdv = ops.logSoftmax(adv);
  const kl = ops.sum(ops.mul(ops.softmax(clean), ops.sub(lpClean, lpAdv)));
  return ops.add(natural, ops.scale(kl, beta / clean.shape[0]));
}
