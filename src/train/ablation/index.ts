// The robust-ViT augmentation ablation: 16 trainings (every subset of CutMix, RandAugment, MixUp,
// Random Erasing), their clean, PGD and AutoAttack accuracy, resumable and shardable.
export { runAugmentAblation, defaultAblationModel, ABLATION_FORMAT } from './run';
export type {
  AugmentAblationOptions,
  AugmentAblationResult,
  AblationRun,
  AblationModelSpec,
  AblationProgress,
} from './run';
export { ablationSettings, DEFAULT_ABLATION_SETTINGS, QUICK_ABLATION_SETTINGS } from './settings';
export type { AblationSettings } from './settings';
export {
  ABLATION_AUGMENTS,
  AUGMENT_LABELS,
  DEFAULT_ABLATION_SPECS,
  ALL_COMBINATIONS,
  combinationMembers,
  combinationName,
  parseCombination,
} from './combinations';
export type { AblationAugment } from './combinations';
export { ablationTable, plotAblation, writeAblationReport, mergeAblationShards, ABLATION_FILES } from './report';
export type { AblationRow, AblationReport } from './report';
