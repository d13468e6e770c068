// The analyses of the study's section 4: occlusion, noise by frequency, the Fourier heat map, the
// lesion study, kernel attention distance, feature-map variance, the effective receptive field, and
// accuracy under attack against the attack's budget.
export {
  occlusion,
  mergeOcclusion,
  occlusionMask,
  applyPatchMask,
  patchGrid,
  patchSums,
  gradientSaliency,
  attentionSaliency,
} from './occlusion';
export type { OcclusionOptions, OcclusionResult, OcclusionPoint, OcclusionMode, PatchGrid } from './occlusion';
export { frequencyNoise, mergeFrequencyNoise, fourierHeatmap, mergeFourierHeatmap, bandNoise } from './frequency';
export type {
  FrequencyNoiseOptions,
  FrequencyNoiseResult,
  FrequencyBandPoint,
  FourierHeatmapOptions,
  FourierHeatmapResult,
  NoiseScale,
} from './frequency';
export { dft2, bandMask, bandLimited, fourierBasis, normalizedFrequency, signedFrequency } from './spectrum';
export type { Complex2d } from './spectrum';
export { lesion, mergeLesion, lesionSkipSets } from './lesion';
export type { LesionOptions, LesionResult, LesionPoint } from './lesion';
export { kernelDistance, kernelDistances } from './kernels';
export type { KernelDistanceOptions, KernelDistanceResult, KernelDistanceLayer } from './kernels';
export { featureVariance, featureVarianceSum, erf, erfAreaRatio } from './features';
export type {
  FeatureVarianceOptions,
  FeatureVarianceResult,
  FeatureVarianceLayer,
  ErfOptions,
  ErfResult,
  ErfAreaRatio,
} from './features';
export { attackCurve } from './attack_curve';
export type { AttackCurveOptions, AttackCurveResult } from './attack_curve';
export {
  plotOcclusion,
  plotFrequencyNoise,
  plotFourierHeatmap,
  plotLesion,
  plotKernelDistance,
  plotFeatureVariance,
  plotErf,
  plotAttackCurve,
} from './plots';
export type { Labeled } from './plots';
export { Rng } from './common';
export type { DatasetOptions, Progress } from './common';
export { perturbationViews, normalizeMap, normalizeMaps, perturbationGrid, MAP_NORMALIZATIONS } from './perturbations';
export type {
  PerturbationViewsOptions,
  PerturbationViewsResult,
  PerturbationModelView,
  MapNormalization,
} from './perturbations';
export {
  writePerturbationViews,
  perturbationHtml,
  perturbationSummary,
  PERTURBATION_FILES,
} from './perturbations_report';
