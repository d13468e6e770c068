// The attacks: white-box (FGSM, PGD, APGD-CE/-T, FAB-T, the adversarial patch), gradient-free (Square
// L-inf/L2), the AutoAttack-style ensemble and the TAIG transfer attacks. Inputs are [0, 1] pixels on
// models that normalise inside; eps is in pixels or, with space 'normalized', in the model's
// normalised units (space.ts).
export { fgsm, pgd } from './pgd';
export type { FgsmOptions, PgdOptions } from './pgd';
export { apgd, apgdT, apgdCheckpoints } from './apgd';
export type { ApgdOptions, ApgdTOptions, ApgdIteration } from './apgd';
export { square, squareFraction, squareL2Window } from './square';
export { fabT, projectOntoHyperplane } from './fab';
export type { FabTOptions } from './fab';
export type { SquareOptions } from './square';
export { autoAttack } from './autoattack';
export type { AutoAttackOptions, AutoAttackResult, EnsembleMember } from './autoattack';
export { taig } from './taig';
export type { TaigOptions } from './taig';
export { patch } from './patch';
export type { PatchOptions } from './patch';
export { summarize } from './common';
export type { AttackResult, AttackSummary, CommonAttackOptions } from './common';
export { runAttack, judge, ATTACKS } from './run';
export type { RunAttackOptions, RunAttackOptionsFor, RunAttackResult, AttackName, AttackOptionsByName } from './run';
export { lossFromLogits } from './loss';
export type { LossName } from './loss';
export { Rng } from '../tensor/random';
export type { SpaceName } from './space';
export type { Norm } from './project';
