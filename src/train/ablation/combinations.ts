// The 16 runs of the robust-ViT augmentation ablation: every subset of {CutMix, RandAugment, MixUp,
// Random Erasing}. Combination k holds augmentation i when bit i of k is set, so the order (and a
// shard's slice of it) is fixed; a name joins the members with '+' ('none' for the empty set).
import type { NamedAugment } from '../augment';

export const ABLATION_AUGMENTS = ['cutmix', 'randaugment', 'mixup', 'erase'] as const;
export type AblationAugment = (typeof ABLATION_AUGMENTS)[number];

export const AUGMENT_LABELS: Record<AblationAugment, string> = {
  cutmix: 'CutMix',
  randaugment: 'RandAugment',
  mixup: 'MixUp',
  erase: 'Random Erasing',
};

/** The specs of the DeiT / robust-ViT recipe (train/augment's string forms). */
export const DEFAULT_ABLATION_SPECS: Record<AblationAugment, NamedAugment> = {
  cutmix: 'cutmix-a1',
  randaugment: 'rand-m9-mstd0.5-inc1',
  mixup: 'mixup-a0.8',
  erase: 'erase-p0.25',
};

/** The order fit applies them in: image operations first, the label mixers last. */
const PIPELINE_ORDER: AblationAugment[] = ['randaugment', 'erase', 'mixup', 'cutmix'];

/** Combination k's members, in ABLATION_AUGMENTS order. */
export function combinationMembers(k: number): AblationAugment[] {
  return ABLATION_AUGMENTS.filter((_, i) => (k >> i) & 1);
}

export function combinationName(members: readonly AblationAugment[]): string {
  return members.length === 0 ? 'none' : ABLATION_AUGMENTS.filter((a) => members.includes(a)).join('+');
}

/** All 16 names, combination 0 ('none') to 15 ('cutmix+randaugment+mixup+erase'). */
export const ALL_COMBINATIONS: string[] = Array.from({ length: 2 ** ABLATION_AUGMENTS.length }, (_, k) =>
  combinationName(combinationMembers(k)),
);

/** The members of a combination name ('none', 'mixup+cutmix' in any order); a RangeError names what is allowed. */
export function parseCombination(fn: string, name: unknown): AblationAugment[] {
  const bad = () =>
    new RangeError(
      `${fn}: combination ${JSON.stringify(name)} must be 'none' or members of ${ABLATION_AUGMENTS.join(', ')} joined by '+'`,
    );
  if (typeof name !== 'string' || name.length > 200) throw bad();
  if (name === 'none') return [];
  const parts = name.split('+');
  if (parts.some((p) => !(ABLATION_AUGMENTS as readonly string[]).includes(p)) || new Set(parts).size !== parts.length)
    throw bad();
  return ABLATION_AUGMENTS.filter((a) => parts.includes(a));
}

/** The combinations a run does: all 16 (in order), or the ones named, in the canonical order, each once. */
export function checkCombinations(fn: string, names: unknown): string[] {
  if (names === undefined) return ALL_COMBINATIONS.slice();
  if (!Array.isArray(names) || names.length === 0)
    throw new TypeError(`${fn}: combinations must be a non-empty array of names like 'none' or 'cutmix+mixup'`);
  const wanted = new Set(names.map((n) => combinationName(parseCombination(fn, n))));
  if (wanted.size !== names.length) throw new RangeError(`${fn}: combinations names a combination twice`);
  return ALL_COMBINATIONS.filter((n) => wanted.has(n));
}

/** fit's `augment` for a combination: its members' specs in pipeline order (undefined for 'none'). */
export function combinationAugment(
  members: readonly AblationAugment[],
  specs: Record<AblationAugment, NamedAugment>,
): NamedAugment[] | undefined {
  const list = PIPELINE_ORDER.filter((a) => members.includes(a)).map((a) => specs[a]);
  return list.length ? list : undefined;
}
