// Adversarial patch: a square of side P whose pixels are free in [0, 1], optimised by PGD (signed
// gradient ascent of the cross-entropy, clipped to [0, 1]) at a given or seeded random place per
// image; every pixel outside the square is left as it was. The attack Gu et al. (2022) use to
// compare ViTs and CNNs under patch perturbations.
import { Classifier } from '../models/evaluate';
import { checkInt, checkOneOf } from '../tensor/check';
import { setup, finish, intOption, numberOption, AttackResult, CommonAttackOptions } from './common';
import { lossAndGrad } from './loss';

export interface PatchOptions extends Omit<CommonAttackOptions, 'eps' | 'norm' | 'space' | 'std'> {
  /** Side of the square patch in pixels (required). */
  patchSize: number;
  /** PGD iterations (default 20). */
  steps?: number;
  /** Step size in pixels (default 8/255). */
  alpha?: number;
  /** Top-left corner [x (column), y (row)] for every image, or 'random' (default): one drawn per image from the seed. */
  location?: readonly [number, number] | 'random';
  /** Random locations on multiples of this stride (16 puts the patch on a ViT-B/16 token); default 1. */
  align?: number;
  /** Start of the patch: 'random' (default) uniform in [0, 1) from the seed, or 'image' (its own pixels). */
  init?: 'random' | 'image';
}

const PATCH_OPTIONS = ['patchSize', 'steps', 'alpha', 'location', 'align', 'init'];

export function patch(model: Classifier, x: unknown, y: unknown, options: PatchOptions): AttackResult {
  const o = options as unknown as Record<string, unknown> | undefined;
  for (const k of ['eps', 'norm', 'space', 'std'])
    if (o && o[k] !== undefined)
      throw new RangeError(`patch: option '${k}' does not apply (the patch's pixels are free in [0, 1])`);
  if (o === undefined || o.patchSize === undefined) throw new TypeError("patch: option 'patchSize' is required");
  // eps 1 in pixels: any value in [0, 1] is reachable, the clip to [0, 1] is the only bound.
  const s = setup('patch', model, x, y, { ...o, eps: 1 }, PATCH_OPTIONS);
  const [N, C, H, W] = s.shape;
  const P = checkInt('patch', 'patchSize', s.o.patchSize, 1, Math.min(H, W));
  const steps = intOption(s, 'steps', 20, 0);
  const alpha = numberOption(s, 'alpha', 8 / 255, { min: 0 });
  const align = intOption(s, 'align', 1);
  const init = s.o.init === undefined ? 'random' : checkOneOf('patch', 'init', s.o.init, ['random', 'image']);
  const corners = patchCorners(s.o.location, N, H, W, P, align, (n) => s.rng.below(n));

  // The patch pixels of each sample, as flat indices into [N, C, H, W].
  const idx = new Int32Array(N * C * P * P);
  let k = 0;
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let r = 0; r < P; r++)
        for (let q = 0; q < P; q++) idx[k++] = ((n * C + c) * H + corners[2 * n + 1] + r) * W + corners[2 * n] + q;

  const z = s.z0.slice();
  if (init === 'random') for (const i of idx) z[i] = s.rng.uniform();
  const loss = s.target ? 'ce-targeted' : 'ce';
  for (let t = 0; t < steps; t++) {
    const g = lossAndGrad(s.model, s.space, z, s.shape, s.y, loss, s.target).grad;
    for (const i of idx) z[i] = Math.min(1, Math.max(0, z[i] + alpha * Math.sign(g[i])));
  }
  return finish(s, z);
}

/** Each image's top-left corner [x, y]: the given one for all, or drawn uniformly on the align grid. */
function patchCorners(
  location: unknown,
  N: number,
  H: number,
  W: number,
  P: number,
  align: number,
  draw: (n: number) => number,
): Int32Array {
  const out = new Int32Array(2 * N);
  if (location === undefined || location === 'random') {
    const nx = Math.floor((W - P) / align) + 1,
      ny = Math.floor((H - P) / align) + 1;
    for (let n = 0; n < N; n++) {
      out[2 * n] = draw(nx) * align;
      out[2 * n + 1] = draw(ny) * align;
    }
    return out;
  }
  if (!Array.isArray(location) || location.length !== 2)
    throw new TypeError(
      `patch: location must be [x, y] (the top-left corner) or 'random', got ${JSON.stringify(location)}`,
    );
  const px = checkInt('patch', 'location[0] (x)', location[0], 0, W - P);
  const py = checkInt('patch', 'location[1] (y)', location[1], 0, H - P);
  for (let n = 0; n < N; n++) [out[2 * n], out[2 * n + 1]] = [px, py];
  return out;
}
