// The demo's three models, built for 32x32 digits and trained on the same data and budget: a
// RepLKNet with large depthwise kernels, the same network with 3x3 kernels, and a small ViT.
import { manualSeed } from '../nn';
import type { ImageClassifier } from '../models/classifier';
import { RepLKNet, RepLKNetConfig } from '../models/replknet';
import { VisionTransformer, ViTConfig } from '../models/vit';
import { MNIST_MEAN, MNIST_STD, MNIST_IMAGE_SIZE } from './mnist';

export interface DemoModelSpec {
  /** Short name used in file names and tables. */
  name: string;
  /** Legend label. */
  label: string;
  description: string;
  /** The architecture's constructor config, as report.json records it. */
  config: RepLKNetConfig | ViTConfig;
  build: () => ImageClassifier;
}

// A two-stage RepLKNet: the stem's total stride 2 leaves a 16x16 map for stage 0, where a 13x13
// kernel spans 26 pixels of the padded 32x32 digit (RepLKNet-31B's 31 spans 124 of ImageNet's 224).
const REPLKNET_BASE: Omit<RepLKNetConfig, 'kernelSizes' | 'smallKernel'> = {
  layers: [1, 1],
  channels: [24, 48],
  dwRatio: 1,
  ffnRatio: 2,
  numClasses: 10,
  stemStride: 2,
};

export const LARGE_KERNEL_CONFIG: RepLKNetConfig = { ...REPLKNET_BASE, kernelSizes: [13, 7], smallKernel: 5 };
export const SMALL_KERNEL_CONFIG: RepLKNetConfig = { ...REPLKNET_BASE, kernelSizes: [3, 3], smallKernel: null };
// 8x8 patches: on 8,000 digits 4x4 patches (64 tokens) trained 8 times slower for a lower accuracy
// after the same epochs (0.90 against 0.93 after 4), so the budget goes to epochs instead.
export const VIT_CONFIG: ViTConfig = {
  imageSize: MNIST_IMAGE_SIZE,
  patchSize: 8,
  embedDim: 64,
  depth: 4,
  numHeads: 4,
  mlpRatio: 2,
  numClasses: 10,
};

/** The three models, in the order of every table and legend. */
export const DEMO_MODELS: DemoModelSpec[] = [
  {
    name: 'replknet-13',
    label: 'RepLKNet 13x13',
    config: LARGE_KERNEL_CONFIG,
    description: 'RepLKNet, large depthwise kernels 13 and 7 with a parallel 5x5 (merged by reparam), channels 24/48',
    build: () => new RepLKNet(LARGE_KERNEL_CONFIG, MNIST_MEAN, MNIST_STD),
  },
  {
    name: 'replknet-3',
    label: 'RepLKNet 3x3',
    config: SMALL_KERNEL_CONFIG,
    description: 'the same network with 3x3 depthwise kernels (no parallel small kernel)',
    build: () => new RepLKNet(SMALL_KERNEL_CONFIG, MNIST_MEAN, MNIST_STD),
  },
  {
    name: 'vit',
    label: 'ViT 8x8 patches',
    config: VIT_CONFIG,
    description: 'Vision Transformer, 8x8 patches (16 tokens and a class token), width 64, depth 4, 4 heads',
    build: () => new VisionTransformer(VIT_CONFIG, MNIST_MEAN, MNIST_STD),
  },
];

/** Builds model `index` of DEMO_MODELS with initial weights that depend only on the seed. */
export function buildDemoModel(index: number, seed: number): ImageClassifier {
  const spec = DEMO_MODELS[index];
  if (!spec) throw new RangeError(`buildDemoModel: index must be 0..${DEMO_MODELS.length - 1}, got ${index}`);
  manualSeed((Math.imul(seed, 0x9e3779b1) + index + 1) >>> 0);
  return spec.build();
}
