// Attacks by name over a whole dataset, a batch at a time: the API behind `lkvit attack`, with
// transfer (craft on a surrogate, judge on the target model) and progress.
import { Device } from '../tensor/device';
import { withDevice } from '../models/device';
import { Tensor } from '../tensor/tensor';
import { checkOneOf } from '../tensor/check';
import { Classifier, predictLogits, argmax, inBatch } from '../models/evaluate';
import type { LabeledDataset } from '../io/dataset';
import { AttackResult, AttackSummary, summarize } from './common';
import { fgsm, pgd } from './pgd';
import { apgd, apgdT } from './apgd';
import { square } from './square';
import { fabT } from './fab';
import { autoAttack } from './autoattack';
import { taig, TaigOptions } from './taig';
import { patch, PatchOptions } from './patch';
import type { FgsmOptions, PgdOptions } from './pgd';
import type { ApgdOptions, ApgdTOptions } from './apgd';
import type { SquareOptions } from './square';
import type { FabTOptions } from './fab';
import type { AutoAttackOptions } from './autoattack';
import { perturbationNorms } from './project';
import { ShardSpec, checkShard, shardSlice } from '../shard/spec';

type AttackFn = (model: Classifier, x: Tensor, y: Int32Array, options: Record<string, unknown>) => AttackResult;

/** Every attack by its command-line name. */
export const ATTACKS: Record<AttackName, AttackFn> & Record<string, AttackFn | undefined> = {
  fgsm: (m, x, y, o) => fgsm(m, x, y, o as never),
  pgd: (m, x, y, o) => pgd(m, x, y, o as never),
  'apgd-ce': (m, x, y, o) => apgd(m, x, y, { loss: 'ce', ...o } as never),
  'apgd-dlr': (m, x, y, o) => apgd(m, x, y, { loss: 'dlr', ...o } as never),
  'apgd-t': (m, x, y, o) => apgdT(m, x, y, o as never),
  'fab-t': (m, x, y, o) => fabT(m, x, y, o as never),
  square: (m, x, y, o) => square(m, x, y, o as never),
  autoattack: (m, x, y, o) => autoAttack(m, x, y, o as never),
  taig: (m, x, y, o) => taig(m, x, y, o as never),
  'taig-s': (m, x, y, o) => taig(m, x, y, { ...o, path: 'straight' } as never),
  'taig-r': (m, x, y, o) => taig(m, x, y, { ...o, path: 'random' } as never),
  patch: (m, x, y, o) => patch(m, x, y, o as never),
};

/** The names runAttack and the command line accept, in ATTACKS' order. */
export const ATTACK_NAMES = Object.keys(ATTACKS) as AttackName[];

/** Each attack's own options, by its runAttack / command-line name (what the name fixes is left out). */
export interface AttackOptionsByName {
  fgsm: FgsmOptions;
  pgd: PgdOptions;
  'apgd-ce': Omit<ApgdOptions, 'loss'>;
  'apgd-dlr': Omit<ApgdOptions, 'loss'>;
  'apgd-t': ApgdTOptions;
  'fab-t': FabTOptions;
  square: SquareOptions;
  autoattack: AutoAttackOptions;
  taig: TaigOptions;
  'taig-s': Omit<TaigOptions, 'path'>;
  'taig-r': Omit<TaigOptions, 'path'>;
  patch: PatchOptions;
}

/** The attack names runAttack takes. */
export type AttackName = keyof AttackOptionsByName;

/** runAttack's options for one attack: `attack` picks the type of `options` (a misspelt name, option or value fails to compile). */
export type RunAttackOptionsFor<A extends AttackName> = RunAttackCommon & {
  /** A name from ATTACKS. */
  attack: A;
  /** The attack's own options (eps, steps, norm, ...); seed is offset per batch so batches differ. */
  options: AttackOptionsByName[A];
};

/** runAttack's options: a union discriminated by `attack`. */
export type RunAttackOptions = { [A in AttackName]: RunAttackOptionsFor<A> }[AttackName];

/** What every attack's run takes besides the attack and its options. */
export interface RunAttackCommon {
  /** Samples per batch (default 16). */
  batchSize?: number;
  /** Craft the examples on this model instead and judge them on the target (a transfer attack). */
  surrogate?: Classifier;
  /** Keep the adversarial images (default true); false keeps only the figures. */
  keepAdversarial?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** An AbortSignal (or anything with `aborted`): checked before every batch; the call then rejects with an AbortError. */
  signal?: { readonly aborted: boolean };
  /** Only this shard's slice of the batches (each keeps its global batch seed); mergeAttackRuns joins the shards. */
  shard?: ShardSpec;
  /** 'cpu' or 'cuda': the model (and surrogate) move there for the run and back afterwards. Default: where they are. */
  device?: Device;
}

export interface RunAttackResult {
  attack: AttackName;
  summary: AttackSummary & { seconds: number; transfer: boolean };
  /** Per sample (of the shard's slice, if sharded), on the target model. */
  cleanPred: Int32Array;
  advPred: Int32Array;
  y: Int32Array;
  linf: Float32Array;
  l2: Float32Array;
  xAdv: Tensor | null;
}

export async function runAttack(
  model: Classifier,
  data: LabeledDataset,
  options: RunAttackOptions,
): Promise<RunAttackResult> {
  return withDevice('runAttack', options?.device, [model, options?.surrogate], () =>
    runAttackHere(model, data, options),
  );
}

async function runAttackHere(
  model: Classifier,
  data: LabeledDataset,
  options: RunAttackOptions,
): Promise<RunAttackResult> {
  const fn = ATTACKS[checkOneOf('runAttack', 'attack', options?.attack, ATTACK_NAMES)];
  const batchSize = options.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`runAttack: batchSize must be an integer >= 1, got ${batchSize}`);
  if (data.length < 1) throw new RangeError('runAttack: the dataset is empty');
  const { start: first, end: last } = shardSlice(data.length, batchSize, checkShard('runAttack', options.shard));
  const N = last - first;
  const seed = (options.options as { seed?: number }).seed ?? 0;
  const t0 = performance.now();
  const cleanPred = new Int32Array(N),
    advPred = new Int32Array(N),
    y = new Int32Array(N);
  const linf = new Float32Array(N),
    l2 = new Float32Array(N);
  let xAdv: Float32Array | null = null,
    shape: number[] | null = null;
  // b counts batches from the dataset's start, so a shard's batches get the single run's seeds.
  for (let start = first, b = first / batchSize; start < last; start += batchSize, b++) {
    if (options.signal?.aborted) throw Object.assign(new Error('runAttack: aborted'), { name: 'AbortError' });
    const end = Math.min(last, start + batchSize),
      at = start - first;
    const batch = await data.load(start, end);
    const opts = { ...options.options, seed: (seed + Math.imul(b, 0x9e3779b9)) >>> 0 };
    const { r, judged } = inBatch('runAttack', b, start, end, () => {
      const r = fn(options.surrogate ?? model, batch.x, batch.y, opts);
      return { r, judged: options.surrogate ? judge(model, batch.x, r.xAdv) : r };
    });
    cleanPred.set(judged.cleanPred, at);
    advPred.set(judged.advPred, at);
    y.set(batch.y, at);
    linf.set(r.linf, at);
    l2.set(r.l2, at);
    if (options.keepAdversarial !== false) {
      const D = r.xAdv.size / (end - start);
      if (!xAdv) {
        xAdv = new Float32Array(N * D);
        shape = [N, ...r.xAdv.shape.slice(1)];
      }
      xAdv.set(r.xAdv.data, at * D);
    }
    options.onProgress?.(end - first, N);
  }
  const cleanCorrect = Uint8Array.from(cleanPred, (p, i) => +(p === y[i]));
  const robust = Uint8Array.from(advPred, (p, i) => +(p === y[i]));
  const summary = summarize({ cleanCorrect, robust, linf, l2 });
  return {
    attack: options.attack,
    summary: { ...summary, seconds: (performance.now() - t0) / 1000, transfer: !!options.surrogate },
    cleanPred,
    advPred,
    y,
    linf,
    l2,
    xAdv: xAdv && shape ? new Tensor(xAdv, shape) : null,
  };
}

/** One run from the runs of its shards, in shard order: per-sample arrays (and x_adv) joined, the
 * figures recomputed from them, the seconds added. */
export function mergeAttackRuns(shards: RunAttackResult[]): RunAttackResult {
  if (shards.length === 0) throw new RangeError('mergeAttackRuns: no shard results');
  const join = <T extends Int32Array | Float32Array>(make: (n: number) => T, pick: (r: RunAttackResult) => T): T => {
    const out = make(shards.reduce((n, r) => n + pick(r).length, 0));
    let at = 0;
    for (const r of shards) {
      out.set(pick(r), at);
      at += pick(r).length;
    }
    return out;
  };
  const cleanPred = join(
      (n) => new Int32Array(n),
      (r) => r.cleanPred,
    ),
    advPred = join(
      (n) => new Int32Array(n),
      (r) => r.advPred,
    );
  const y = join(
      (n) => new Int32Array(n),
      (r) => r.y,
    ),
    linf = join(
      (n) => new Float32Array(n),
      (r) => r.linf,
    ),
    l2 = join(
      (n) => new Float32Array(n),
      (r) => r.l2,
    );
  const withImages = shards.filter((r) => r.y.length > 0);
  const xAdv =
    withImages.length > 0 && withImages.every((r) => r.xAdv)
      ? new Tensor(
          join(
            (n) => new Float32Array(n),
            (r) => (r.xAdv ? r.xAdv.data : new Float32Array(0)),
          ),
          [y.length, ...withImages[0].xAdv!.shape.slice(1)],
        )
      : null;
  const summary = summarize({
    cleanCorrect: Uint8Array.from(cleanPred, (p, i) => +(p === y[i])),
    robust: Uint8Array.from(advPred, (p, i) => +(p === y[i])),
    linf,
    l2,
  });
  return {
    attack: shards[0].attack,
    summary: {
      ...summary,
      seconds: shards.reduce((s, r) => s + r.summary.seconds, 0),
      transfer: shards[0].summary.transfer,
    },
    cleanPred,
    advPred,
    y,
    linf,
    l2,
    xAdv,
  };
}

/** The target model's predictions on clean and adversarial images crafted elsewhere. */
export function judge(
  target: Classifier,
  x: Tensor,
  xAdv: Tensor,
): Pick<AttackResult, 'cleanPred' | 'advPred' | 'linf' | 'l2'> {
  return {
    cleanPred: argmax(predictLogits(target, x)),
    advPred: argmax(predictLogits(target, xAdv)),
    ...perturbationNorms(xAdv.data, x.data, x.shape),
  };
}

/**
 * The largest per-sample L-inf and L2 norms (in pixels) of a perturbation in the eps-ball of `norm`,
 * for images of D values in [0, 1]; `std` when eps is in normalised units (each unit is std pixels).
 */
export function perturbationBounds(
  eps: number,
  norm: 'linf' | 'l2',
  std: readonly number[] | null,
  D: number,
): { linf: number; l2: number } {
  const e = std ? eps * Math.max(...std) : eps;
  const l2 = norm === 'l2' ? e : e * Math.sqrt(D);
  return { linf: Math.min(1, e), l2: Math.min(Math.sqrt(D), l2) };
}
