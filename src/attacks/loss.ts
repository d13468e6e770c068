// The attack losses, computed per sample from the logits, with their gradient w.r.t. the logits;
// one backward pass through the model then gives the input gradient. Every loss is one the attack
// maximises. Cross-entropy is the op's (ops.crossEntropy, native, float32); the margin losses,
// which no op has, are computed here in float64.
import { Tensor, noGrad } from '../tensor/tensor';
import { crossEntropy } from '../tensor/ops/nn';
import { logitsOf, checkFinite, Classifier } from '../models/evaluate';
import type { AttackSpace } from './space';

export type LossName = 'ce' | 'ce-targeted' | 'dlr' | 'dlr-targeted' | 'margin' | 'logit' | 'logit-gap-targeted';

/** Indices of the four largest entries of row (descending); ties keep the lower index first. */
function top4(row: Float32Array): [number, number, number, number] {
  const t = [-1, -1, -1, -1];
  for (let j = 0; j < row.length; j++) {
    let p = 4;
    while (p > 0 && (t[p - 1] < 0 || row[j] > row[t[p - 1]])) p--;
    if (p < 4) {
      t.splice(p, 0, j);
      t.length = 4;
    }
  }
  return t as [number, number, number, number];
}

/** sign * cross-entropy of `labels` per row, and its gradient w.r.t. the logits when asked (the
 * op's own backward, so the rule is written once). */
function crossEntropyRows(
  logits: Float32Array,
  N: number,
  K: number,
  labels: Int32Array,
  sign: number,
  withGrad: boolean,
): { loss: Float64Array; dlogits: Float32Array } {
  if (!withGrad) {
    const ce = noGrad(() => crossEntropy(new Tensor(logits, [N, K]), labels, { reduction: 'none' }));
    return { loss: Float64Array.from(ce.data, (v) => sign * v), dlogits: new Float32Array(N * K) };
  }
  const z = new Tensor(logits, [N, K], true);
  const ce = crossEntropy(z, labels, { reduction: 'none' });
  if (!ce.requiresGrad)
    throw new TypeError('lossFromLogits: the cross-entropy gradient needs gradient recording (called inside noGrad)');
  ce.backward(new Float32Array(N).fill(sign));
  return { loss: Float64Array.from(ce.data, (v) => sign * v), dlogits: z.grad!.data };
}

/**
 * Per-sample loss and d loss / d logits for logits [N, K] (withGrad false: the loss alone, dlogits zero):
 * - ce: cross-entropy of the label y; ce-targeted: minus the cross-entropy of the target;
 * - dlr: -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3 + 1e-12) (Croce & Hein 2020, pi sorts z descending);
 * - dlr-targeted: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12);
 * - margin: max_{j != y} z_j - z_y (Square's, no gradient needed but given);
 * - logit: -z_y (TAIG's score);
 * - logit-gap-targeted: z_t - z_y (FAB-T's linearised decision function, negative while y wins over t).
 */
export function lossFromLogits(
  name: LossName,
  logits: Float32Array,
  N: number,
  K: number,
  y: Int32Array,
  target: Int32Array | null,
  withGrad = true,
): { loss: Float64Array; dlogits: Float32Array } {
  if (name === 'ce') return crossEntropyRows(logits, N, K, y, 1, withGrad);
  if (name === 'ce-targeted') {
    if (!target) throw new TypeError("lossFromLogits: loss 'ce-targeted' needs the target classes");
    return crossEntropyRows(logits, N, K, target, -1, withGrad);
  }
  const loss = new Float64Array(N),
    d = new Float32Array(N * K);
  for (let i = 0; i < N; i++) {
    const z = logits.subarray(i * K, (i + 1) * K),
      g = d.subarray(i * K, (i + 1) * K);
    const yi = y[i],
      ti = target ? target[i] : -1;
    if (name === 'logit') {
      loss[i] = -z[yi];
      g[yi] = -1;
      continue;
    }
    if (name === 'logit-gap-targeted') {
      loss[i] = z[ti] - z[yi];
      g[ti] += 1;
      g[yi] -= 1;
      continue;
    }
    const [p1, p2, p3, p4] = top4(z);
    if (name === 'margin' || name === 'dlr') {
      const other = p1 === yi ? p2 : p1;
      const num = z[yi] - z[other];
      if (name === 'margin') {
        loss[i] = -num;
        g[yi] -= 1;
        g[other] += 1;
        continue;
      }
      const den = z[p1] - z[p3] + 1e-12;
      loss[i] = -num / den;
      g[yi] -= 1 / den;
      g[other] += 1 / den;
      g[p1] += num / (den * den);
      g[p3] -= num / (den * den);
    } else {
      const num = z[yi] - z[ti];
      const den = z[p1] - 0.5 * (z[p3] + z[p4]) + 1e-12;
      loss[i] = -num / den;
      g[yi] -= 1 / den;
      g[ti] += 1 / den;
      g[p1] += num / (den * den);
      g[p3] -= (0.5 * num) / (den * den);
      g[p4] -= (0.5 * num) / (den * den);
    }
  }
  return { loss, dlogits: d };
}

export function minClasses(name: LossName): number {
  return name === 'dlr-targeted' ? 4 : name === 'dlr' ? 3 : 2;
}

export interface LossAndGrad {
  loss: Float64Array;
  logits: Float32Array;
  /** d loss / d z in attack units, [N, 3, H, W]. */
  grad: Float32Array;
}

/** One forward and backward pass: per-sample loss and its gradient w.r.t. the attack variable z. */
export function lossAndGrad(
  model: Classifier,
  space: AttackSpace,
  z: Float32Array,
  shape: readonly number[],
  y: Int32Array,
  name: LossName,
  target: Int32Array | null = null,
): LossAndGrad {
  const x = new Tensor(space.toPixel(z, shape), shape, true);
  const logits = logitsOf(model, x);
  if (!logits.requiresGrad)
    throw new TypeError("attack: the model's logits do not depend on x (no gradient reaches the input)");
  const [N, K] = logits.shape;
  const { loss, dlogits } = lossFromLogits(name, logits.data, N, K, y, target);
  logits.backward(dlogits);
  const grad = space.gradToAttack(x.grad!.data, shape);
  checkFinite('the model returned non-finite gradients', grad, grad.length / N);
  return { loss, logits: logits.data, grad };
}

/** One forward pass without a graph: per-sample loss and the logits (Square's queries). */
export function lossOnly(
  model: Classifier,
  space: AttackSpace,
  z: Float32Array,
  shape: readonly number[],
  y: Int32Array,
  name: LossName,
  target: Int32Array | null = null,
): { loss: Float64Array; logits: Float32Array } {
  const x = new Tensor(space.toPixel(z, shape), shape, false);
  const logits = noGrad(() => logitsOf(model, x));
  const [N, K] = logits.shape;
  return { loss: lossFromLogits(name, logits.data, N, K, y, target, false).loss, logits: logits.data };
}
