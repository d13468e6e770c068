// The AutoAttack-style ensemble: each attack runs only on the points every earlier attack left
// robust, so a point's result is its worst case over the ensemble; robust accuracy after each.
import { Tensor } from '../tensor/tensor';
import { Classifier, predictLogits, argmax } from '../models/evaluate';
import { setup, finish, gather, samplesShape, AttackResult, CommonAttackOptions } from './common';
import { apgd, apgdT } from './apgd';
import { square } from './square';
import { fabT } from './fab';

export type EnsembleMember = 'apgd-ce' | 'apgd-t' | 'fab-t' | 'square';

export interface AutoAttackOptions extends CommonAttackOptions {
  /** Attacks in order (default apgd-ce, apgd-t, fab-t, square: AutoAttack's standard version). */
  attacks?: EnsembleMember[];
  /** APGD and FAB-T iterations (default 100) and Square queries (default 5000). */
  steps?: number;
  queries?: number;
}

export interface AutoAttackResult extends AttackResult {
  /** Robust accuracy (over all samples) after each attack, and its time. */
  log: { attack: EnsembleMember; robustAccuracy: number; seconds: number }[];
}

const MEMBERS: EnsembleMember[] = ['apgd-ce', 'apgd-t', 'fab-t', 'square'];

export function autoAttack(model: Classifier, x: unknown, y: unknown, options: AutoAttackOptions): AutoAttackResult {
  const s = setup('autoAttack', model, x, y, options, ['attacks', 'steps', 'queries']);
  if (s.target) throw new TypeError("autoAttack: option 'target' is not supported");
  const attacks = (s.o.attacks ?? MEMBERS) as EnsembleMember[];
  if (!Array.isArray(attacks) || attacks.length === 0 || attacks.some((a) => !MEMBERS.includes(a)))
    throw new RangeError(
      `autoAttack: attacks must be a non-empty list of ${MEMBERS.join(', ')}, got ${JSON.stringify(s.o.attacks)}`,
    );
  const common = {
    eps: s.eps,
    norm: s.norm,
    space: s.space.name,
    std: [...s.space.scale] as [number, number, number],
    seed: options.seed ?? 0,
  };
  const N = s.shape[0],
    D = s.z0.length / N;
  const cleanLogits = predictLogits(model, s.x).data;
  const cleanPred = argmax(new Tensor(cleanLogits, [N, cleanLogits.length / N]));
  const robust = Uint8Array.from(cleanPred, (p, n) => +(p === s.y[n]));
  const advPixels = s.x.data.slice();
  const log: AutoAttackResult['log'] = [];
  for (const name of attacks) {
    const t0 = performance.now();
    const idx = [...robust.keys()].filter((n) => robust[n]);
    if (idx.length) {
      const xs = new Tensor(gather(s.x.data, idx, D), samplesShape(s.shape, idx.length));
      const ys = Int32Array.from(idx, (n) => s.y[n]);
      const steps = { ...common, ...(s.o.steps !== undefined && { steps: s.o.steps as number }) };
      const r =
        name === 'apgd-ce'
          ? apgd(model, xs, ys, steps)
          : name === 'apgd-t'
            ? apgdT(model, xs, ys, steps)
            : name === 'fab-t'
              ? fabT(model, xs, ys, steps)
              : square(model, xs, ys, {
                  ...common,
                  ...(s.o.queries !== undefined && { queries: s.o.queries as number }),
                });
      idx.forEach((n, j) => {
        if (r.robust[j]) return;
        robust[n] = 0;
        advPixels.set(r.xAdv.data.subarray(j * D, (j + 1) * D), n * D);
      });
    }
    log.push({
      attack: name,
      robustAccuracy: robust.reduce((a, b) => a + b, 0) / N,
      seconds: (performance.now() - t0) / 1000,
    });
  }
  const result = finish(s, s.space.toAttack(advPixels, s.shape), {}, { clean: cleanLogits });
  return { ...result, log };
}
