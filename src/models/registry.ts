// Model names -> architecture, default configuration, normalisation and the published weights
// they load. `createModel` builds one; `loadModel` builds one to fit a checkpoint and loads it.
import { ImageClassifier, Triple, checkNormalization } from './classifier';
import { RepLKNet, RepLKNetConfig } from './replknet';
import { VisionTransformer, ViTConfig } from './vit';
import { ConvNeXt, ConvNeXtConfig } from './convnext';
import { ResNet, ResNetConfig } from './resnet';
import { BiT, BiTConfig } from './bit';
import { XCiT, XCiTConfig } from './xcit';
import { withoutInit, LoadReport, StateEntry, StateDictError } from '../nn';
import { readWeightsMetadata } from '../nn/serialize';
import { loadStateDict } from '../io/checkpoint';
import type { StateDict } from '../io';
import { CheckpointError } from '../io/errors';
import { printable } from '../io/errors';
import { fittingModel, summarizeLoadReport } from './infer';

export const IMAGENET_MEAN: Triple = [0.485, 0.456, 0.406];
export const IMAGENET_STD: Triple = [0.229, 0.224, 0.225];
export const HALF: Triple = [0.5, 0.5, 0.5];

type Family = 'replknet' | 'vit' | 'convnext' | 'resnet' | 'bit' | 'xcit';

/** Each family's architecture options (createModel's options besides mean and std). */
export interface FamilyConfigs {
  replknet: RepLKNetConfig;
  vit: ViTConfig;
  convnext: ConvNeXtConfig;
  resnet: ResNetConfig;
  bit: BiTConfig;
  xcit: XCiTConfig;
}

interface ModelSpec<F extends Family = Family> {
  family: F;
  defaults: Record<string, unknown>;
  mean: Triple;
  std: Triple;
  /** State-dict key of the classifier weight (its first dim is the number of classes). */
  headKey: string;
  /** Where published weights for this name come from (README table). */
  weights: string;
}

const replknet = (over: Partial<RepLKNetConfig>, weights: string): ModelSpec<'replknet'> => ({
  family: 'replknet',
  defaults: {
    kernelSizes: [31, 29, 27, 13],
    layers: [2, 2, 18, 2],
    channels: [128, 256, 512, 1024],
    smallKernel: 5,
    dwRatio: 1,
    ffnRatio: 4,
    numClasses: 1000,
    ...over,
  },
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  headKey: 'head.weight',
  weights,
});
const vit = (embedDim: number, depth: number, numHeads: number, weights: string): ModelSpec<'vit'> => ({
  family: 'vit',
  defaults: { imageSize: 224, patchSize: 16, embedDim, depth, numHeads, mlpRatio: 4, numClasses: 1000 },
  mean: HALF,
  std: HALF,
  headKey: 'head.weight',
  weights,
});
const convnext = (depths: number[], dims: number[], weights: string): ModelSpec<'convnext'> => ({
  family: 'convnext',
  defaults: { depths, dims, kernelSize: 7, numClasses: 1000 },
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  headKey: 'head.fc.weight',
  weights,
});

const MODEL_TABLE = {
  replknet31b: replknet({}, 'official RepLKNet release: RepLKNet-31B_ImageNet-1K_224.pth (or the 22K / 22K→1K files)'),
  replknet31l: replknet(
    { channels: [192, 384, 768, 1536] },
    'official RepLKNet release: RepLKNet-31L_ImageNet-22K-to-1K_384.pth',
  ),
  // RepLKNet-XL was fine-tuned with mean = std = 0.5 (official README), unlike 31B/31L.
  replknetxl: {
    ...replknet(
      { kernelSizes: [27, 27, 27, 13], channels: [256, 512, 1024, 2048], smallKernel: null, dwRatio: 1.5 },
      'official RepLKNet release: RepLKNet-XL_MegData73M_ImageNet1K_320.pth',
    ),
    mean: HALF,
    std: HALF,
  },
  vit_ti16: vit(192, 12, 3, 'timm vit_tiny_patch16_224.augreg_in21k_ft_in1k (model.safetensors)'),
  vit_s16: vit(384, 12, 6, 'timm vit_small_patch16_224.augreg_in21k_ft_in1k (model.safetensors)'),
  vit_b16: vit(768, 12, 12, 'timm vit_base_patch16_224.augreg_in21k_ft_in1k (model.safetensors)'),
  vit_l16: vit(1024, 24, 16, 'timm vit_large_patch16_224.augreg_in21k_ft_in1k (model.safetensors)'),
  // DeiT (non-distilled) is timm's VisionTransformer with the same keys, trained with ImageNet mean/std.
  deit_s16: {
    ...vit(
      384,
      12,
      6,
      'timm deit_small_patch16_224.fb_in1k (model.safetensors); robust DeiT-S checkpoints use the same keys',
    ),
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
  },
  xcit_s12: {
    family: 'xcit' as const,
    defaults: { patchSize: 16, embedDim: 384, depth: 12, numHeads: 8, mlpRatio: 4, clsAttnLayers: 2, numClasses: 1000 },
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    headKey: 'head.weight',
    weights:
      'timm xcit_small_12_p16_224.fb_in1k (model.safetensors); the robust XCiT-S12 checkpoints use the same keys',
  },
  resnet50: {
    family: 'resnet' as const,
    defaults: { layers: [3, 4, 6, 3], widths: [64, 128, 256, 512], stemWidth: 64, numClasses: 1000 },
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    headKey: 'fc.weight',
    weights: 'torchvision resnet50 IMAGENET1K_V1/V2 (.pth) or timm resnet50.* (model.safetensors)',
  },
  convnext_tiny: convnext([3, 3, 9, 3], [96, 192, 384, 768], 'timm convnext_tiny.fb_in1k (model.safetensors)'),
  convnext_small: convnext([3, 3, 27, 3], [96, 192, 384, 768], 'timm convnext_small.fb_in1k (model.safetensors)'),
  convnext_base: convnext([3, 3, 27, 3], [128, 256, 512, 1024], 'timm convnext_base.fb_in1k (model.safetensors)'),
  convnext_large: convnext([3, 3, 27, 3], [192, 384, 768, 1536], 'timm convnext_large.fb_in1k (model.safetensors)'),
  bit_m_r101x3: {
    family: 'bit' as const,
    defaults: {
      layers: [3, 4, 23, 3],
      widthFactor: 3,
      numGroups: 32,
      stemWidth: 64,
      outChannels: [256, 512, 1024, 2048],
      numClasses: 1000,
    },
    mean: HALF,
    std: HALF,
    headKey: 'head.fc.weight',
    weights: 'timm resnetv2_101x3_bit.goog_in21k_ft_in1k (model.safetensors; evaluated at 448x448)',
  },
} satisfies Record<string, ModelSpec>;

/** Every model by name (indexable by a runtime string; ModelName is the typed list). */
export const MODELS: Record<string, ModelSpec> = MODEL_TABLE;

/** The registered model names. */
export type ModelName = keyof typeof MODEL_TABLE;

/** The family a model name belongs to. */
export type ModelFamily<N extends ModelName> = (typeof MODEL_TABLE)[N]['family'];

/** createModel's options for model `name`: its family's architecture fields (each optional,
 * defaulting to the published configuration) and the normalisation. A misspelt field or a value
 * of the wrong type fails to compile. */
export type ModelOptionsFor<N extends ModelName> = Partial<FamilyConfigs[ModelFamily<N>]> & {
  mean?: Triple;
  std?: Triple;
};

/** createModel's options for any model (a union over the families; see ModelOptionsFor). */
export type ModelOptions = ModelOptionsFor<ModelName>;

/** Options for a model named at run time (a `string`, not a literal): checked at run time only. */
export interface UntypedModelOptions {
  [key: string]: unknown;
  mean?: Triple;
  std?: Triple;
}

/** A string type that is not a literal: the run-time-name overloads accept `string`, and a literal
 * must then be a ModelName (so a misspelt literal name fails to compile). */
export type RuntimeString<S extends string> = S & (string extends S ? unknown : never);

function specOf(name: string): ModelSpec {
  const spec = Object.prototype.hasOwnProperty.call(MODELS, name) ? MODELS[name] : undefined;
  if (!spec) throw new RangeError(`unknown model '${String(name)}'; known models: ${Object.keys(MODELS).join(', ')}`);
  return spec;
}

/** Builds a model by name with PyTorch-default random weights (seed with nn.manualSeed). */
// Config fields with no published default: training-only or small-image options.
const OPTIONAL_FIELDS: Partial<Record<Family, string[]>> = {
  replknet: ['stemStride', 'dropPathRate'],
  vit: ['dropPathRate'],
  xcit: ['dropPathRate'],
};

/** Every option createModel takes for `name`: its family's config fields, then mean and std. */
export function modelOptionNames(name: string): string[] {
  const spec = specOf(name);
  return [...Object.keys(spec.defaults), ...(OPTIONAL_FIELDS[spec.family] ?? []), 'mean', 'std'];
}

/** Checks createModel's options for `name` without building anything: known names, bounded values, at most MAX_PARAMETERS. */
export function checkModelOptions(name: string, options: UntypedModelOptions = {}): Record<string, unknown> {
  const spec = specOf(name);
  const { mean, std, ...over } = options;
  const known = modelOptionNames(name);
  const unknown = Object.keys(over).filter((k) => !known.includes(k));
  if (unknown.length)
    throw new RangeError(
      `createModel: unknown option(s) ${unknown.join(', ')} for ${name}; it takes ${known.join(', ')}`,
    );
  const config = { ...spec.defaults, ...over };
  checkModelSize(name, spec.family, config);
  return config;
}

export function createModel<N extends ModelName>(name: N, options?: ModelOptionsFor<N>): ImageClassifier;
/** A model named at run time (a `string`): the options are checked at run time. */
export function createModel<S extends string>(name: RuntimeString<S>, options?: UntypedModelOptions): ImageClassifier;
export function createModel(name: string, options: UntypedModelOptions = {}): ImageClassifier {
  const spec = specOf(name);
  const config = checkModelOptions(name, options);
  const { mean, std } = options;
  const m = mean ?? spec.mean,
    s = std ?? spec.std;
  const model = build(spec.family, config, m, s);
  model.recordOrigin(name, config);
  return model;
}

function build(family: Family, config: Record<string, unknown>, m: Triple, s: Triple): ImageClassifier {
  switch (family) {
    case 'replknet':
      return new RepLKNet(config as unknown as RepLKNetConfig, m, s);
    case 'vit':
      return new VisionTransformer(config as unknown as ViTConfig, m, s);
    case 'convnext':
      return new ConvNeXt(config as unknown as ConvNeXtConfig, m, s);
    case 'resnet':
      return new ResNet(config as unknown as ResNetConfig, m, s);
    case 'bit':
      return new BiT(config as unknown as BiTConfig, m, s);
    case 'xcit':
      return new XCiT(config as unknown as XCiTConfig, m, s);
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
      const ch = a('channels'),
        ks = a('kernelSizes'),
        sk = n('smallKernel');
      return (
        stages(
          ch,
          (C, i) => {
            const dw = C * n('dwRatio');
            return 2 * C * dw + dw * ((ks[i] ?? 0) ** 2 + sk ** 2) + 2 * C * C * n('ffnRatio');
          },
          a('layers'),
        ) +
        12 * (ch[0] ?? 0) ** 2 +
        (ch[ch.length - 1] ?? 0) * K
      );
    }
    case 'vit': {
      const D = n('embedDim'),
        tokens = (n('imageSize') / Math.max(1, n('patchSize'))) ** 2 + 1;
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
      return (
        stages(out, (o) => (o * o) / 2 + (9 * o * o) / 16, a('layers')) +
        49 * 3 * n('stemWidth') * n('widthFactor') +
        (out[out.length - 1] ?? 0) * K
      );
    }
    case 'xcit': {
      // conv stem (9 D^2 (1/2 + 1/8 + 1/32) at most), XCA and class-attention blocks, head
      const D = n('embedDim');
      return 6 * D * D + (n('depth') + n('clsAttnLayers')) * (4 + 2 * n('mlpRatio')) * D * D + D * K;
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
    if (Array.isArray(v) && v.length > 16)
      throw new RangeError(`createModel: ${key} must have at most 16 entries (stages), got ${v.length}`);
    for (const e of values)
      if (typeof e === 'number' && !(e >= 0 && e <= MAX_OPTION_VALUE))
        throw new RangeError(
          `createModel: ${key} must hold numbers in [0, ${MAX_OPTION_VALUE}], got ${JSON.stringify(v)}`,
        );
  }
  const estimate = parameterEstimate(family, config);
  if (!(estimate <= MAX_PARAMETERS))
    throw new RangeError(
      `createModel: this ${name} configuration has about ${estimate.toExponential(2)} parameters, more than the ${MAX_PARAMETERS} (2^31) allowed`,
    );
}

/** How loadModel reads a checkpoint. */
export interface LoadOptions {
  /** Fail on any missing, unexpected or mismatched key (default true). */
  strict?: boolean;
  /** Memory limits of reading the checkpoint (loadStateDict's LoadLimits). */
  maxBytes?: number;
  maxExpansion?: number;
}

/** loadModel's options for model `name`: its createModel options (overriding what the file records) and how to read the file. */
export type LoadModelOptionsFor<N extends ModelName> = ModelOptionsFor<N> & LoadOptions;
export type LoadModelOptions = LoadModelOptionsFor<ModelName>;
export interface UntypedLoadModelOptions extends UntypedModelOptions, LoadOptions {}

export interface LoadedModel {
  model: ImageClassifier;
  report: LoadReport;
}

/** The model name and options a weights file records (saveWeights' `lkvit.model` / `lkvit.config`),
 * checked as a user's --config is; null when it records none. */
export function savedModelOf(path: string): { name: string; config: UntypedModelOptions } | null {
  const meta = readWeightsMetadata(path);
  if (meta['lkvit.model'] === undefined) return null;
  const where = `${printable(path)}: its metadata`;
  const name = meta['lkvit.model'];
  if (!Object.prototype.hasOwnProperty.call(MODELS, name))
    throw new CheckpointError(
      `${where} names model ${JSON.stringify(name.slice(0, 80))}, not one of ${Object.keys(MODELS).join(', ')}`,
    );
  let config: unknown = {};
  if (meta['lkvit.config'] !== undefined) {
    try {
      config = JSON.parse(meta['lkvit.config']);
    } catch {
      throw new CheckpointError(`${where} has an unreadable lkvit.config (not JSON)`);
    }
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new CheckpointError(`${where} has an lkvit.config that is not a JSON object`);
  const options = config as UntypedModelOptions;
  try {
    checkModelOptions(name, options);
    if (options.mean !== undefined || options.std !== undefined)
      checkNormalization('createModel', options.mean ?? specOf(name).mean, options.std ?? specOf(name).std);
  } catch (e) {
    throw new CheckpointError(
      `${where} (lkvit.config) is refused: ${(e as Error).message.replace(/^createModel: /, '')}`,
    );
  }
  return { name, config: { ...options } };
}

/**
 * Builds a model to fit a checkpoint file (.safetensors, or a torch.save .pth/.pt/.bin) and loads it.
 * The model and options are, in order of precedence: `options`, what the file records (saveWeights
 * stores the name and options), the name's published configuration; numClasses (and a ViT's
 * imageSize) default to what the checkpoint holds. Without `name` the file must record one.
 */
export function loadModel<N extends ModelName>(name: N, path: string, options?: LoadModelOptionsFor<N>): LoadedModel;
/** A model named at run time (a `string`): the options are checked at run time. */
export function loadModel<S extends string>(
  name: RuntimeString<S>,
  path: string,
  options?: UntypedLoadModelOptions,
): LoadedModel;
/** The model the file records (saved by saveWeights from a createModel / loadModel model). */
export function loadModel(path: string, options?: UntypedLoadModelOptions): LoadedModel;
export function loadModel(
  first: string,
  second?: string | UntypedLoadModelOptions,
  third?: UntypedLoadModelOptions,
): LoadedModel {
  const named = typeof second === 'string';
  const path = named ? second : first;
  const options = (named ? third : second) ?? {};
  if (typeof path !== 'string') throw new TypeError(`loadModel: path must be a string, got ${typeof path}`);
  if (named) specOf(first);
  const { strict, maxBytes, maxExpansion, ...rest } = options;
  const saved = savedModelOf(path);
  if (!named && !saved)
    throw new RangeError(
      `loadModel: ${printable(path)} does not record its model (no lkvit.model metadata: not saved by lkvit's saveWeights); name it: loadModel(NAME, path)`,
    );
  const name = named ? first : saved!.name;
  const spec = specOf(name);
  const state = loadStateDict(path, { maxBytes, maxExpansion });
  // The file's options describe its own model only: another name starts from that name's defaults.
  const over: UntypedModelOptions = { ...(saved && saved.name === name ? saved.config : {}), ...rest };
  const head = state.get(spec.headKey);
  if (rest.numClasses === undefined && head) over.numClasses = head.shape[0];
  if (spec.family === 'vit' && rest.imageSize === undefined) inferViTImageSize(state.get('pos_embed'), spec, over);
  const model = withoutInit(() => createModel(name as ModelName, over as ModelOptions));
  try {
    return { model, report: model.loadStateDict(state, { strict: strict ?? true }) };
  } catch (e) {
    if (!(e instanceof StateDictError)) throw e;
    const recorded =
      saved && saved.name !== name ? ` (the file records model ${saved.name}: leave the name out to use it)` : '';
    throw new StateDictError(mismatchMessage(name, over, path, state, e.report, recorded), e.report);
  }
}

// What a failed strict load prints: which model it tried, which one the weights fit, a few keys.
function mismatchMessage(
  name: string,
  over: UntypedModelOptions,
  path: string,
  state: StateDict,
  report: LoadReport,
  note = '',
): string {
  const { mean, std, numClasses, ...arch } = over; // the architecture options alone
  const tried = `${name}${Object.keys(arch).length ? ` ${JSON.stringify(arch)}` : ''}${note}`;
  const fit = fittingModel(state, MODELS);
  const hint = fit
    ? `these weights look like --model ${fit.name}${Object.keys(fit.config).length ? ` --config '${JSON.stringify(fit.config)}'` : ''} (in the API: loadModel('${fit.name}', path${Object.keys(fit.config).length ? `, ${JSON.stringify(fit.config)}` : ''}))`
    : "the weights match no registered model's layout";
  const heads =
    fit && MODELS[fit.name].family === 'vit'
      ? ` (a ViT's numHeads is in no shape: add it to the config if not ${String(MODELS[fit.name].defaults.numHeads)})`
      : '';
  const [counts, ...keys] = summarizeLoadReport(report);
  return [
    `loadModel: ${printable(path)} does not fit ${tried} (${counts}); ${hint}${heads}; or load the matching keys only with --non-strict (API: { strict: false })`,
    ...keys,
  ].join('\n');
}

// pos_embed [1, 1 + (S/p)^2, D] tells the image side S of a ViT checkpoint (224, 384, ...).
function inferViTImageSize(pos: StateEntry | undefined, spec: ModelSpec, over: UntypedModelOptions): void {
  if (!pos || pos.shape.length !== 3) return;
  const side = Math.sqrt(pos.shape[1] - 1);
  const patch = (over.patchSize ?? spec.defaults.patchSize) as number;
  if (Number.isInteger(side)) over.imageSize = side * patch;
}

/** The model names with their normalisation and weight sources (for docs and the CLI). */
export function listModels(): { name: string; family: string; mean: Triple; std: Triple; weights: string }[] {
  return Object.entries(MODELS).map(([name, s]) => ({
    name,
    family: s.family,
    mean: s.mean,
    std: s.std,
    weights: s.weights,
  }));
}
