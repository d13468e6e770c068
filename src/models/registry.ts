// Model names -> architecture, default configuration, normalisation and the published weights
// they load. `createModel` builds one; `loadModel` builds one to fit a checkpoint and loads it.
import { ImageClassifier, Triple } from './classifier';
import { RepLKNet, RepLKNetConfig } from './replknet';
import { VisionTransformer, ViTConfig } from './vit';
import { ConvNeXt, ConvNeXtConfig } from './convnext';
import { ResNet, ResNetConfig } from './resnet';
import { BiT, BiTConfig } from './bit';
import { withoutInit, LoadReport, StateEntry } from '../nn';
import { loadStateDict } from '../io/checkpoint';

export const IMAGENET_MEAN: Triple = [0.485, 0.456, 0.406];
export const IMAGENET_STD: Triple = [0.229, 0.224, 0.225];
export const HALF: Triple = [0.5, 0.5, 0.5];

type Family = 'replknet' | 'vit' | 'convnext' | 'resnet' | 'bit';

interface ModelSpec {
  family: Family;
  defaults: Record<string, unknown>;
  mean: Triple;
  std: Triple;
  /** State-dict key of the classifier weight (its first dim is the number of classes). */
  headKey: string;
  /** Where published weights for this name come from (README table). */
  weights: string;
}

const replknet = (over: Partial<RepLKNetConfig>, weights: string): ModelSpec => ({
  family: 'replknet',
  defaults: { kernelSizes: [31, 29, 27, 13], layers: [2, 2, 18, 2], channels: [128, 256, 512, 1024], smallKernel: 5, dwRatio: 1, ffnRatio: 4, numClasses: 1000, ...over },
  mean: IMAGENET_MEAN, std: IMAGENET_STD, headKey: 'head.weight', weights,
});
const vit = (embedDim: number, depth: number, numHeads: number, weights: string): ModelSpec => ({
  family: 'vit',
  defaults: { imageSize: 224, patchSize: 16, embedDim, depth, numHeads, mlpRatio: 4, numClasses: 1000 },
  mean: HALF, std: HALF, headKey: 'head.weight', weights,
});
const convnext = (depths: number[], dims: number[], weights: string): ModelSpec => ({
  family: 'convnext',
  defaults: { depths, dims, kernelSize: 7, numClasses: 1000 },
  mean: IMAGENET_MEAN, std: IMAGENET_STD, headKey: 'head.fc.weight', weights,
});

export const MODELS: Record<string, ModelSpec> = {
  replknet31b: replknet({}, 'official RepLKNet release: RepLKNet-31B_ImageNet-1K_224.pth (or the 22K / 22K→1K files)'),
  replknet31l: replknet({ channels: [192, 384, 768, 1536] }, 'official RepLKNet release: RepLKNet-31L_ImageNet-22K-to-1K_384.pth'),
  // RepLKNet-XL was fine-tuned with mean = std = 0.5 (official README), unlike 31B/31L.
  replknetxl: {
    ...replknet({ kernelSizes: [27, 27, 27, 13], channels: [256, 512, 1024, 2048], smallKernel: null, dwRatio: 1.5 },
      'official RepLKNet release: RepLKNet-XL_MegData73M_ImageNet1K_320.pth'),
    mean: HALF, std: HALF,
  },
  vit_ti16: vit(192, 12, 3, 'timm vit_tiny_patch16_224.augreg_in21k_ft_in1k (model.safetensors)'),
  vit_s16: vit(384, 12, 6, 'timm vit_small_patch16_224.augreg_in21k_ft_in1k (model.safetensors)'),
  vit_b16: vit(768, 12, 12, 'timm vit_base_patch16_224.augreg_in21k_ft_in1k (model.safetensors)'),
  vit_l16: vit(1024, 24, 16, 'timm vit_large_patch16_224.augreg_in21k_ft_in1k (model.safetensors)'),
  resnet50: {
    family: 'resnet', defaults: { layers: [3, 4, 6, 3], widths: [64, 128, 256, 512], stemWidth: 64, numClasses: 1000 },
    mean: IMAGENET_MEAN, std: IMAGENET_STD, headKey: 'fc.weight',
    weights: 'torchvision resnet50 IMAGENET1K_V1/V2 (.pth) or timm resnet50.* (model.safetensors)',
  },
  convnext_tiny: convnext([3, 3, 9, 3], [96, 192, 384, 768], 'timm convnext_tiny.fb_in1k (model.safetensors)'),
  convnext_small: convnext([3, 3, 27, 3], [96, 192, 384, 768], 'timm convnext_small.fb_in1k (model.safetensors)'),
  convnext_base: convnext([3, 3, 27, 3], [128, 256, 512, 1024], 'timm convnext_base.fb_in1k (model.safetensors)'),
  convnext_large: convnext([3, 3, 27, 3], [192, 384, 768, 1536], 'timm convnext_large.fb_in1k (model.safetensors)'),
  bit_m_r101x3: {
    family: 'bit', defaults: { layers: [3, 4, 23, 3], widthFactor: 3, numGroups: 32, stemWidth: 64, outChannels: [256, 512, 1024, 2048], numClasses: 1000 },
    mean: HALF, std: HALF, headKey: 'head.fc.weight',
    weights: 'timm resnetv2_101x3_bit.goog_in21k_ft_in1k (model.safetensors; evaluated at 448x448)',
  },
};

export type ModelName = keyof typeof MODELS;

export interface ModelOptions {
  /** Architecture overrides (kernelSizes, layers, channels, numClasses, ...; see each family's config). */
  [key: string]: unknown;
  mean?: Triple;
  std?: Triple;
}

function specOf(name: string): ModelSpec {
  const spec = Object.prototype.hasOwnProperty.call(MODELS, name) ? MODELS[name] : undefined;
  if (!spec) throw new RangeError(`unknown model '${String(name)}'; known models: ${Object.keys(MODELS).join(', ')}`);
  return spec;
}

/** Builds a model by name with PyTorch-default random weights (seed with nn.manualSeed). */
// Config fields with no published default: training-only or small-image options.
const OPTIONAL_FIELDS: Partial<Record<Family, string[]>> = { replknet: ['stemStride', 'dropPathRate'], vit: ['dropPathRate'] };

/** Every option createModel takes for `name`: its family's config fields, then mean and std. */
export function modelOptionNames(name: string): string[] {
  const spec = specOf(name);
  return [...Object.keys(spec.defaults), ...(OPTIONAL_FIELDS[spec.family] ?? []), 'mean', 'std'];
}

/** Checks createModel's options for `name` without building anything: known names, bounded values, at most MAX_PARAMETERS. */
export function checkModelOptions(name: string, options: ModelOptions = {}): Record<string, unknown> {
  const spec = specOf(name);
  const { mean, std, ...over } = options;
  const known = modelOptionNames(name);
  const unknown = Object.keys(over).filter((k) => !known.includes(k));
  if (unknown.length)
    throw new RangeError(`createModel: unknown option(s) ${unknown.join(', ')} for ${name}; it takes ${known.join(', ')}`);
  const config = { ...spec.defaults, ...over };
  checkModelSize(name, spec.family, config);
  return config;
}

export function createModel(name: string, options: ModelOptions = {}): ImageClassifier {
  const spec = specOf(name);
  const config = checkModelOptions(name, options);
  const { mean, std } = options;
  const m = mean ?? spec.mean, s = std ?? spec.std;
  switch (spec.family) {
    case 'replknet': return new RepLKNet(config as unknown as RepLKNetConfig, m, s);
    case 'vit': return new VisionTransformer(config as unknown as ViTConfig, m, s);
    case 'convnext': return new ConvNeXt(config as unknown as ConvNeXtConfig, m, s);
    case 'resnet': return new ResNet(config as unknown as ResNetConfig, m, s);
    case 'bit': return new BiT(config as unknown as BiTConfig, m, s);
  }
}

/** The most parameters createModel builds (8 GiB of float32); the largest published model here, BiT-M R101x3, has 0.39 G. */
export const MAX_PARAMETERS = 2 ** 31;
/** The largest number any architecture option may hold (a width, a depth, a kernel or image side, a class count). */
export const MAX_OPTION_VALUE = 2 ** 20;

/** About how many parameters a configuration has (the weight matrices and kernels; norms and biases are a rounding error). */
function parameterEstimate(family: Family, c: Record<string, unknown>): number {
  const n = (k: string) => Number(c[k] ?? 0);
  const a = (k: string) => (Array.isArray(c[k]) ? (c[k] as number[]) : []);
  const K = n('numClasses');
  const stages = (widths: number[], perBlock: (w: number, i: number) => number, depths: number[]) =>
    widths.reduce((sum, w, i) => sum + (depths[i] ?? 0) * perBlock(w, i) + (i > 0 ? widths[i - 1] * w * 4 : 0), 0);
  switch (family) {
    case 'replknet': {
      const ch = a('channels'), ks = a('kernelSizes'), sk = n('smallKernel');
      return stages(ch, (C, i) => { const dw = C * n('dwRatio'); return 2 * C * dw + dw * ((ks[i] ?? 0) ** 2 + sk ** 2) + 2 * C * C * n('ffnRatio'); }, a('layers'))
        + 12 * (ch[0] ?? 0) ** 2 + (ch[ch.length - 1] ?? 0) * K;
    }
    case 'vit': {
      const D = n('embedDim'), tokens = (n('imageSize') / Math.max(1, n('patchSize'))) ** 2 + 1;
      return 3 * n('patchSize') ** 2 * D + tokens * D + n('depth') * (4 + 2 * n('mlpRatio')) * D * D + D * K;
    }
    case 'convnext': {
      const d = a('dims');
      return stages(d, (w) => w * n('kernelSize') ** 2 + 8 * w * w, a('depths')) + (d[d.length - 1] ?? 0) * K;
    }
    case 'resnet': {
      const w = a('widths');
      return stages(w, (x) => 17 * x * x, a('layers')) + 49 * 3 * n('stemWidth') + 4 * (w[w.length - 1] ?? 0) * K;
    }
    case 'bit': {
      const out = a('outChannels').map((o) => o * n('widthFactor'));
      return stages(out, (o) => o * o / 2 + (9 * o * o) / 16, a('layers')) + 49 * 3 * n('stemWidth') * n('widthFactor') + (out[out.length - 1] ?? 0) * K;
    }
  }
}

/**
 * Refuses, before anything is allocated, a configuration with a number outside [0, MAX_OPTION_VALUE],
 * more than 16 stages, or more than MAX_PARAMETERS parameters (e.g. layers [1e9, ...], which would
 * otherwise build for minutes and gigabytes before failing).
 */
function checkModelSize(name: string, family: Family, config: Record<string, unknown>): void {
  for (const [key, v] of Object.entries(config)) {
    if (v === null || v === undefined || typeof v === 'boolean') continue;
    const values = Array.isArray(v) ? v : [v];
    if (Array.isArray(v) && v.length > 16) throw new RangeError(`createModel: ${key} must have at most 16 entries (stages), got ${v.length}`);
    for (const e of values)
      if (typeof e === 'number' && !(e >= 0 && e <= MAX_OPTION_VALUE))
        throw new RangeError(`createModel: ${key} must hold numbers in [0, ${MAX_OPTION_VALUE}], got ${JSON.stringify(v)}`);
  }
  const estimate = parameterEstimate(family, config);
  if (!(estimate <= MAX_PARAMETERS))
    throw new RangeError(`createModel: this ${name} configuration has about ${estimate.toExponential(2)} parameters, more than the ${MAX_PARAMETERS} (2^31) allowed`);
}

export interface LoadModelOptions extends ModelOptions {
  /** Fail on any missing, unexpected or mismatched key (default true). */
  strict?: boolean;
  /** Memory limits of reading the checkpoint (loadStateDict's LoadLimits). */
  maxBytes?: number;
  maxExpansion?: number;
}

/** Builds `name` to fit a checkpoint file (.safetensors, or a torch.save .pth/.pt/.bin) and loads
 * it. numClasses (and a ViT's imageSize) default to what the checkpoint holds. */
export function loadModel(name: string, path: string, options: LoadModelOptions = {}): { model: ImageClassifier; report: LoadReport } {
  const { strict, maxBytes, maxExpansion, ...rest } = options;
  const spec = specOf(name);
  const state = loadStateDict(path, { maxBytes, maxExpansion });
  const over: ModelOptions = { ...rest };
  const head = state.get(spec.headKey);
  if (over.numClasses === undefined && head) over.numClasses = head.shape[0];
  if (spec.family === 'vit' && over.imageSize === undefined) inferViTImageSize(state.get('pos_embed'), spec, over);
  const model = withoutInit(() => createModel(name, over));
  const report = model.loadStateDict(state, { strict: strict ?? true });
  return { model, report };
}

// pos_embed [1, 1 + (S/p)^2, D] tells the image side S of a ViT checkpoint (224, 384, ...).
function inferViTImageSize(pos: StateEntry | undefined, spec: ModelSpec, over: ModelOptions): void {
  if (!pos || pos.shape.length !== 3) return;
  const side = Math.sqrt(pos.shape[1] - 1);
  const patch = (over.patchSize ?? spec.defaults.patchSize) as number;
  if (Number.isInteger(side)) over.imageSize = side * patch;
}

/** The model names with their normalisation and weight sources (for docs and the CLI). */
export function listModels(): { name: string; family: string; mean: Triple; std: Triple; weights: string }[] {
  return Object.entries(MODELS).map(([name, s]) => ({ name, family: s.family, mean: s.mean, std: s.std, weights: s.weights }));
}
