// lkvit's public API.
import { native } from './native';

export { Tensor, tensor, zeros, full, noGrad, isGradEnabled } from './tensor/tensor';
export type { Shape } from './tensor/tensor';
import * as ops from './tensor/ops';
import { checkOneOf } from './tensor/check';
export { ops };

// Models, layers and checkpoints.
export { createModel, loadModel, listModels, MODELS, IMAGENET_MEAN, IMAGENET_STD } from './models/registry';
export type {
  ModelName,
  ModelOptions,
  ModelOptionsFor,
  LoadModelOptions,
  LoadModelOptionsFor,
  UntypedModelOptions,
  LoadedModel,
  FamilyConfigs,
} from './models/registry';
export { ImageClassifier } from './models/classifier';
export type { ForwardOptions, ForwardResult, Triple } from './models/classifier';
export { RepLKNet } from './models/replknet';
export type { RepLKNetConfig } from './models/replknet';
export { VisionTransformer } from './models/vit';
export type { ViTConfig } from './models/vit';
export { ConvNeXt } from './models/convnext';
export type { ConvNeXtConfig } from './models/convnext';
export { ResNet } from './models/resnet';
export type { ResNetConfig } from './models/resnet';
export { BiT } from './models/bit';
export type { BiTConfig } from './models/bit';
export { XCiT } from './models/xcit';
export type { XCiTConfig } from './models/xcit';
import * as nn from './nn';
export { nn };
export { Module, StateDictError, saveWeights, manualSeed } from './nn';
export type { LoadReport } from './nn';
export { loadStateDict, readSafetensors, writeSafetensors, readTorchCheckpoint, CheckpointError } from './io';
export type { StateDict, StateTensor } from './io';
export { loadImage, loadImageBatch, listImageFiles, resizeBilinearU8, ImageFileError } from './io/image';
export type { ImageTransform } from './io/image';
export {
  tensorDataset,
  readLabeledSafetensors,
  safetensorsDataset,
  imageDataset,
  classFolderFiles,
  batches,
  loadIndices,
} from './io/dataset';
export type { LabeledDataset, Batch, LabeledFile, DatasetSource } from './io/dataset';
export { predictLogits, topkCorrect, argmax } from './models/evaluate';
export type { Classifier } from './models/evaluate';
import * as attacks from './attacks';
export { attacks };
export { fgsm, pgd, apgd, apgdT, square, autoAttack, taig, runAttack, summarize } from './attacks';
export { mergeAttackRuns } from './attacks/run';
export type {
  AttackResult,
  AttackSummary,
  AttackName,
  AttackOptionsByName,
  RunAttackOptions,
  RunAttackResult,
} from './attacks';
export { evaluateSuite, evaluateSuiteShard, mergeSuiteShards, SUITES } from './suites/imagenet';
export { parseShard, shardSlice } from './shard/spec';
export type { ShardSpec, ShardSlice } from './shard/spec';
export { mergeable, readShardReport, writeShardReport, shardFiles, ShardMergeError } from './shard/report';
export type { ShardReport } from './shard/report';
export type { SuiteOptions, SuiteName } from './suites/imagenet';
export type { SuiteReport, Figure } from './suites/report';
export type { SuiteBaseline } from './suites/summaries';
import * as suiteMetrics from './suites/metrics';
export { suiteMetrics };
export {
  IMAGENET_WNIDS,
  IMAGENET_A_WNIDS,
  IMAGENET_R_WNIDS,
  IMAGENET_O_WNIDS,
  IN_TO_IN9,
  IN9_CLASSES,
} from './suites/classes';
import * as analyses from './suites/analyses';
export { analyses };
export { lineChart, heatmap, svgToPng } from './plot';

// Training.
import * as train from './train';
export { train };
export { fit, SGD, AdamW, cosineLr, clipGradNorm, saveCheckpoint, loadCheckpoint, augment } from './train';
export type {
  FitOptions,
  FitResult,
  EpochMetrics,
  StepInfo,
  OptimizerSpec,
  AdversarialOptions,
  AugmentSpec,
  NamedAugment,
} from './train';
export { Rng } from './tensor/random';
// The augmentation ablation of the robust-ViT study (lkvit ablate augment).
import * as ablation from './train/ablation';
export { ablation };
export { runAugmentAblation } from './train/ablation';
export type {
  AugmentAblationOptions,
  AugmentAblationResult,
  AblationSettings,
  AblationRow,
  AblationReport,
} from './train/ablation';

// The demo: three small models trained on MNIST digits, attacked and analysed (lkvit demo).
import * as demo from './demo';
export { demo };

// The same long calls off the main thread (worker threads), with AbortSignal and progress.
export { background, Background, evaluate } from './worker';
export type {
  BackgroundData,
  BackgroundOptions,
  PoolOptions,
  EvaluateOptions,
  EvaluateResult,
  ModelSpec,
  ModelRef,
} from './worker';

// The CUDA backend: lk.cuda.available(), lk.cuda.info() (device tensors come later).
export * as cuda from './cuda';

// Performance: the machine's measured peak (lk.machinePeak) and the per-op profiler (lk.profile, LKVIT_PROFILE=1).
export { profile, formatProfile, machinePeak, machinePeakTable } from './perf';
export type { ProfileResult, ProfileRow, MachinePeak, MachinePeakOptions } from './perf';

export type Isa = 'generic' | 'avx2' | 'avx512';

/** Threads used by the native kernels (default: LKVIT_NUM_THREADS or the number of cores). */
export function getNumThreads(): number {
  return native.getNumThreads() as number;
}

/** Sets the kernel thread count; 0 restores the default. */
export function setNumThreads(n: number): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 1024)
    throw new RangeError(`setNumThreads: n must be an integer in [0, 1024], got ${String(n)}`);
  native.setNumThreads(n);
}

/** The SIMD code path in use and the best one this CPU supports. */
export function getIsa(): { active: Isa; best: Isa } {
  return native.getIsa() as { active: Isa; best: Isa };
}

/** Forces a SIMD code path (for testing and benchmarking); LKVIT_ISA does the same at start-up. */
export function setIsa(isa: Isa): void {
  native.setIsa(checkOneOf('setIsa', 'isa', isa, ['generic', 'avx2', 'avx512']));
}

// `import lk from 'lkvit'` (Node's ESM, or TypeScript without esModuleInterop) gets the whole API:
// the module object itself, so it is the same object as `require('lkvit')`.
const lkvit: typeof import('./index') = module.exports;
export default lkvit;
