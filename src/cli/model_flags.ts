// The flags every command that runs a model shares (--model, --weights, --config, ...), and the
// loading they describe, so predict, attack, eval and analyze load models the same way.
import { loadModel, savedModelOf, MODELS, modelOptionNames, checkModelOptions } from '../models/registry';
import { RepLKNet } from '../models/replknet';
import { ImageClassifier, NORMALIZATION_LIMITS, Triple } from '../models/classifier';
import { FlagSpec, Flags, intFlag, tripleFlag, existingFile, UsageError, didYouMean } from './args';
import { DEFAULT_MAX_EXPANSION, parseByteSize } from '../io/limits';
import { resolveDevice } from '../models/device';

export const MODEL_FLAGS: Record<string, FlagSpec> = {
  model: {
    type: 'string',
    help: 'model name (lkvit models lists them)',
    default: 'the one the weights record (saved by lkvit), else required',
  },
  weights: { type: 'string', help: 'checkpoint: .safetensors or torch.save .pth/.pt/.bin', required: true },
  config: {
    type: 'string',
    help: 'architecture overrides as JSON, e.g. \'{"kernelSize":13}\' (see the README); keys not given keep what the weights record',
    default: "the weights' recorded options, else {}",
  },
  'num-classes': { type: 'string', help: 'classifier size', default: "the checkpoint's" },
  mean: { type: 'string', help: 'normalisation mean a,b,c', default: "the model's" },
  std: { type: 'string', help: 'normalisation std a,b,c', default: "the model's" },
  reparam: { type: 'boolean', help: 'RepLKNet: structural re-parameterisation before running', default: 'off' },
  'non-strict': { type: 'boolean', help: 'load matching keys only and report the rest', default: 'off' },
  'max-load-bytes': {
    type: 'string',
    help: 'memory a checkpoint may make lkvit allocate, e.g. 16GiB',
    default: '8GiB',
  },
  'max-load-expansion': {
    type: 'string',
    help: "that memory as a multiple of the file's size (at least 64 MiB)",
    default: String(DEFAULT_MAX_EXPANSION),
  },
  device: {
    type: 'string',
    help: 'cpu, cuda or auto (CUDA when `lkvit info` reports a device); LKVIT_DEVICE sets the default',
    default: 'auto',
  },
};

/** --max-load-bytes and --max-load-expansion as loadStateDict's LoadLimits. */
export function loadLimitFlags(f: Flags, command: string): { maxBytes?: number; maxExpansion?: number } {
  const out: { maxBytes?: number; maxExpansion?: number } = {};
  if (f['max-load-bytes'] !== undefined) {
    out.maxBytes = parseByteSize(String(f['max-load-bytes']));
    if (!(out.maxBytes > 0))
      throw new UsageError(
        `${command}: --max-load-bytes must be a size like 16GiB, 500MB or 2000000000, got '${String(f['max-load-bytes'])}'`,
      );
  }
  if (f['max-load-expansion'] !== undefined) {
    out.maxExpansion = Number(f['max-load-expansion']);
    if (!(out.maxExpansion > 0) || String(f['max-load-expansion']).trim() === '')
      throw new UsageError(
        `${command}: --max-load-expansion must be a positive number, got '${String(f['max-load-expansion'])}'`,
      );
  }
  return out;
}

export function configFlag(json: string | undefined, command: string): Record<string, unknown> {
  if (json === undefined) return {};
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new UsageError(`${command}: --config must be a JSON object like '{"kernelSize":13}', got '${json}'`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new UsageError(`${command}: --config must be a JSON object, got '${json}'`);
  return v as Record<string, unknown>;
}

/** The --config object, whose keys must be architecture options of `model` and whose size is bounded
 * (checked before anything is built; `extra` holds the other flags' options, e.g. numClasses). */
export function configKeys(
  config: Record<string, unknown>,
  model: string,
  command: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const known = modelOptionNames(model);
  const unknown = Object.keys(config).filter((k) => !known.includes(k));
  if (unknown.length)
    throw new UsageError(
      `${command}: --config has unknown option(s) ${unknown.join(', ')} for ${model}; it takes ${known.join(', ')}${didYouMean(unknown[0], known)}`,
    );
  try {
    checkModelOptions(model, { ...config, ...extra });
  } catch (e) {
    if (e instanceof RangeError)
      throw new UsageError(`${command}: --config: ${e.message.replace(/^createModel: /, '')}`);
    throw e;
  }
  return config;
}

/** --mean or --std: three numbers within what a model accepts (NORMALIZATION_LIMITS), checked before any work. */
export function normalizationFlag(f: Flags, name: 'mean' | 'std', command: string): Triple | undefined {
  const v = tripleFlag(f, name, command);
  if (v === undefined) return undefined;
  const { maxAbsMean, minStd, maxStd } = NORMALIZATION_LIMITS;
  const ok = name === 'mean' ? v.every((m) => Math.abs(m) <= maxAbsMean) : v.every((s) => s >= minStd && s <= maxStd);
  if (!ok)
    throw new UsageError(
      `${command}: --${name} must be three numbers in ${name === 'mean' ? `[-${maxAbsMean}, ${maxAbsMean}]` : `[${minStd}, ${maxStd}]`}, got '${String(f[name])}'`,
    );
  return v;
}

/** The value of a flag naming a model, which must be one the registry knows. */
export function modelNameFlag(f: Flags, name: string, command: string): string | undefined {
  const v = f[name];
  if (v === undefined) return undefined;
  if (!Object.prototype.hasOwnProperty.call(MODELS, String(v)))
    throw new UsageError(
      `${command}: --${name} '${String(v)}' is not a model${didYouMean(String(v), Object.keys(MODELS))}; known models: ${Object.keys(MODELS).join(', ')}`,
    );
  return String(v);
}

/**
 * Loads the model the flags name. `prefix` selects a second model's flags (e.g. 'surrogate-' for
 * --surrogate and --surrogate-weights); the other flags then apply to the first model only.
 */
export function loadModelFromFlags(
  f: Flags,
  command: string,
  print: (s: string) => void,
  names: { model: string; weights: string } = { model: 'model', weights: 'weights' },
): ImageClassifier {
  if (f[names.weights] === undefined)
    throw new UsageError(`${command}: --${names.weights} is required ('lkvit ${command} --help')`);
  const device = deviceFlag(f, command); // before the load: a device that is not there fails at once
  modelNameFlag(f, names.model, command);
  const weights = existingFile(f, names.weights, command)!;
  // Without --model, the model the weights record (lkvit's saveWeights stores its name and options).
  const saved = savedModelOf(weights);
  if (f[names.model] === undefined && !saved)
    throw new UsageError(
      `${command}: --${names.model} is required: '${weights}' does not record its model (only weights saved by lkvit do) ('lkvit ${command} --help')`,
    );
  const name = f[names.model] === undefined ? saved!.name : String(f[names.model]);
  const primary = names.model === 'model';
  const numClasses = primary ? intFlag(f, 'num-classes', command) : undefined;
  const mean = primary ? normalizationFlag(f, 'mean', command) : undefined;
  const std = primary ? normalizationFlag(f, 'std', command) : undefined;
  // --config keys override the recorded ones (checked against the recorded ones merged in).
  const recorded = saved && saved.name === name ? saved.config : {};
  const config = primary ? configFlag(f.config as string | undefined, command) : {};
  if (primary)
    configKeys(config, name, command, { ...recorded, ...config, ...(numClasses !== undefined && { numClasses }) });
  const { model, report } = loadModel(name, weights, {
    ...config,
    strict: !f['non-strict'],
    ...loadLimitFlags(f, command),
    ...(numClasses !== undefined && { numClasses }),
    ...(mean && { mean }),
    ...(std && { std }),
  });
  const skipped = report.missing.length + report.unexpected.length + report.mismatched.length;
  if (skipped)
    print(
      `warning: not loaded: ${report.missing.length} missing, ${report.unexpected.length} unexpected, ${report.mismatched.length} mismatched keys`,
    );
  if (primary && f.reparam) {
    if (!(model instanceof RepLKNet))
      throw new UsageError(`${command}: --reparam applies to RepLKNet models, not ${name}`);
    model.reparam();
  }
  return model.to(device);
}

/** --device (cpu, cuda, auto), else LKVIT_DEVICE, else auto: CUDA when available. */
export function deviceFlag(f: Flags, command: string): 'cpu' | 'cuda' {
  const v = f.device === undefined ? undefined : String(f.device);
  try {
    return resolveDevice(v);
  } catch (e) {
    throw new UsageError(`${command}: ${(e as Error).message}`);
  }
}
