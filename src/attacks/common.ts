// What every attack shares: option checks, the attack's view of its inputs (attack units, labels),
// and the result with its summary (clean and robust accuracy, perturbation norms).
import { Tensor } from '../tensor/tensor';
import { checkOptions, checkNumber, checkInt, checkOneOf } from '../tensor/check';
import { toLabels } from '../io/dataset';
import { Classifier, predictLogits, argmax, meanOf, checkFinite } from '../models/evaluate';
import { AttackSpace, attackSpace, checkImages, SpaceName } from './space';
import { perturbationNorms, Norm } from './project';
import { Rng } from '../tensor/random';

export interface CommonAttackOptions {
  /** Radius of the allowed perturbation, in pixels ([0, 1] scale) or normalised units (see space). */
  eps: number;
  /** 'linf' (default) or 'l2'. */
  norm?: Norm;
  /** 'pixel' (default): eps in [0, 1] pixels; 'normalized': eps in units of the model's std per channel. */
  space?: SpaceName;
  /** std per channel for space 'normalized' when the model is a plain function. */
  std?: [number, number, number];
  /** Seed of the random start, windows, paths: the same seed gives bit-identical results. Default 0. */
  seed?: number;
  /** Labels to reach (targeted attacks): one per sample. */
  target?: ArrayLike<number>;
}

export interface AttackResult {
  /** The adversarial images, [N, 3, H, W] in [0, 1]. */
  xAdv: Tensor;
  cleanPred: Int32Array;
  advPred: Int32Array;
  /** 1 where the clean image is classified correctly. */
  cleanCorrect: Uint8Array;
  /** 1 where the adversarial image is still classified correctly. */
  robust: Uint8Array;
  /** Per-sample L-inf and L2 norms of xAdv - x, in pixels. */
  linf: Float32Array;
  l2: Float32Array;
  /** Model queries per sample (Square). */
  queries?: Int32Array;
}

export interface AttackSummary {
  samples: number;
  cleanAccuracy: number;
  robustAccuracy: number;
  /** Of the samples classified correctly when clean, the fraction the attack turned wrong. */
  successRate: number;
  meanLinf: number;
  meanL2: number;
  maxLinf: number;
}

/** The figures of an attack over its samples (any result with the per-sample arrays). */
export function summarize(
  r: Pick<AttackResult, 'cleanCorrect' | 'robust' | 'linf'> & { l2: ArrayLike<number> },
): AttackSummary {
  let fooled = 0,
    correct = 0,
    maxLinf = 0;
  for (let i = 0; i < r.robust.length; i++) {
    if (r.cleanCorrect[i]) {
      correct++;
      if (!r.robust[i]) fooled++;
    }
    maxLinf = Math.max(maxLinf, r.linf[i]);
  }
  return {
    samples: r.robust.length,
    cleanAccuracy: meanOf(r.cleanCorrect),
    robustAccuracy: meanOf(r.robust),
    successRate: correct ? fooled / correct : NaN,
    meanLinf: meanOf(r.linf),
    meanL2: meanOf(r.l2),
    maxLinf,
  };
}

/** The checked inputs of one attack call, in attack units. */
export interface AttackSetup {
  op: string;
  model: Classifier;
  x: Tensor;
  y: Int32Array;
  target: Int32Array | null;
  shape: readonly number[];
  space: AttackSpace;
  z0: Float32Array;
  eps: number;
  norm: Norm;
  rng: Rng;
  /** Remaining options, already checked against the attack's allowed names. */
  o: Record<string, unknown>;
}

const COMMON = ['eps', 'norm', 'space', 'std', 'seed', 'target'];

export function setup(
  op: string,
  model: Classifier,
  x: unknown,
  y: unknown,
  options: unknown,
  extra: string[],
): AttackSetup {
  if (!(
    typeof model === 'function' ||
    (model !== null && typeof model === 'object' && typeof (model as { forward?: unknown }).forward === 'function')
  ))
    throw new TypeError(`${op}: model must be an ImageClassifier or a function from x to logits`);
  const o = checkOptions(op, options, [...COMMON, ...extra]);
  if (options === undefined || o.eps === undefined) throw new TypeError(`${op}: option 'eps' is required`);
  const xt = checkImages(op, x);
  const N = xt.shape[0];
  const labels = toLabels(op, 'y', y, N);
  if (labels.some((l) => l < 0)) throw new RangeError(`${op}: y must hold a class index for every sample (got -1)`);
  const eps = checkNumber(op, 'eps', o.eps, { min: 0 });
  const norm = o.norm === undefined ? 'linf' : checkOneOf(op, 'norm', o.norm, ['linf', 'l2']);
  const seed = o.seed === undefined ? 0 : checkInt(op, 'seed', o.seed, 0, 0xffffffff);
  const target = o.target === undefined ? null : toLabels(op, 'target', o.target, N);
  const space = attackSpace(op, o.space, model, o.std as number[] | undefined);
  return {
    op,
    model,
    x: xt,
    y: labels,
    target,
    shape: xt.shape,
    space,
    z0: space.toAttack(xt.data, xt.shape),
    eps,
    norm,
    rng: new Rng(seed),
    o,
  };
}

/** An option that is a positive integer, with a default. */
export function intOption(s: AttackSetup, name: string, dflt: number, min = 1): number {
  return s.o[name] === undefined ? dflt : checkInt(s.op, name, s.o[name], min);
}

export function numberOption(
  s: AttackSetup,
  name: string,
  dflt: number,
  opts: { min?: number; max?: number; positive?: boolean } = {},
): number {
  return s.o[name] === undefined ? dflt : checkNumber(s.op, name, s.o[name], opts);
}

export function boolOption(s: AttackSetup, name: string, dflt: boolean): boolean {
  const v = s.o[name];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new TypeError(`${s.op}: ${name} must be a boolean, got ${typeof v}`);
  return v;
}

/** Builds the result from the final adversarial point (attack units). Logits the attack already has
 * (clean, or of zAdv) save a forward pass each. */
export function finish(
  s: AttackSetup,
  zAdv: Float32Array,
  extra: Partial<AttackResult> = {},
  known: { clean?: Float32Array; adv?: Float32Array } = {},
): AttackResult {
  const xAdvData = s.space.isPixel ? zAdv : s.space.toPixel(zAdv, s.shape);
  const N = s.shape[0];
  checkFinite('the attack produced non-finite adversarial images', xAdvData, xAdvData.length / N, s.op);
  const xAdv = new Tensor(xAdvData, s.shape);
  const predOf = (logits: Float32Array | undefined, x: Tensor) =>
    logits ? argmax(new Tensor(logits, [N, logits.length / N])) : argmax(predictLogits(s.model, x));
  const cleanPred = predOf(known.clean, s.x);
  const advPred = predOf(known.adv, xAdv);
  const cleanCorrect = Uint8Array.from({ length: N }, (_, i) => +(cleanPred[i] === s.y[i]));
  const robust = Uint8Array.from({ length: N }, (_, i) => +(advPred[i] === s.y[i]));
  return {
    xAdv,
    cleanPred,
    advPred,
    cleanCorrect,
    robust,
    ...perturbationNorms(xAdvData, s.x.data, s.shape),
    ...extra,
  };
}

/** Rows `idx` of per-sample data (D values per sample). */
export function gather(a: Float32Array, idx: readonly number[], D: number): Float32Array {
  const out = new Float32Array(idx.length * D);
  idx.forEach((n, j) => out.set(a.subarray(n * D, (n + 1) * D), j * D));
  return out;
}

export function samplesShape(shape: readonly number[], n: number): number[] {
  return [n, ...shape.slice(1)];
}
