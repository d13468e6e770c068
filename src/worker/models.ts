// Models across the thread boundary. A caller names a model by spec ({ name, options, weights })
// or hands over an instance; an instance travels as its class, its config and a copy of its state
// dict, and is rebuilt in the worker with initialisation skipped (the weights are overwritten).
import * as fs from 'fs';
import { ImageClassifier, Triple } from '../models/classifier';
import { RepLKNet } from '../models/replknet';
import { VisionTransformer } from '../models/vit';
import { ConvNeXt } from '../models/convnext';
import { ResNet } from '../models/resnet';
import { BiT } from '../models/bit';
import { MODELS, ModelOptions, createModel, loadModel } from '../models/registry';
import { manualSeed, withoutInit } from '../nn';
import { Tensor } from '../tensor/tensor';
import { checkOneOf } from '../tensor/check';

/** A model by name: createModel(name, options) (seeded with `seed` when given), or loadModel(name,
 * weights, options) when `weights` names a checkpoint file. */
export interface ModelSpec {
  name: string;
  options?: ModelOptions;
  weights?: string;
  seed?: number;
}

export type ModelRef = ModelSpec | ImageClassifier;

/** The state of a model: its tensors by state-dict key, its mode and which parameters train. */
export interface ModelState {
  entries: [string, Float32Array, number[]][];
  training: boolean;
  requiresGrad: string[];
}

// Every class a worker can rebuild, by the name that travels. Each takes (config, mean, std).
const CLASSES = { RepLKNet, VisionTransformer, ConvNeXt, ResNet, BiT } as const;
type ClassName = keyof typeof CLASSES;

export type ModelMessage =
  | { kind: 'spec'; spec: ModelSpec }
  | { kind: 'instance'; className: ClassName; config: unknown; mean: Triple; std: Triple; state: ModelState };

function classNameOf(model: ImageClassifier): ClassName | undefined {
  return (Object.keys(CLASSES) as ClassName[]).find((name) => model.constructor === CLASSES[name]);
}

/** Checks a spec where it is cheap (known name, existing weights file) so mistakes fail before a worker starts. */
function checkSpec(fn: string, what: string, spec: ModelSpec): ModelSpec {
  checkOneOf(fn, `${what}.name`, spec.name, Object.keys(MODELS));
  if (
    spec.options !== undefined &&
    (typeof spec.options !== 'object' || spec.options === null || Array.isArray(spec.options))
  )
    throw new TypeError(`${fn}: ${what}.options must be an object of model options, got ${typeof spec.options}`);
  if (spec.weights !== undefined) {
    if (typeof spec.weights !== 'string')
      throw new TypeError(`${fn}: ${what}.weights must be a file path, got ${typeof spec.weights}`);
    if (!fs.existsSync(spec.weights)) throw new RangeError(`${fn}: ${what}.weights '${spec.weights}' does not exist`);
  }
  if (spec.seed !== undefined && !Number.isInteger(spec.seed))
    throw new TypeError(`${fn}: ${what}.seed must be an integer, got ${String(spec.seed)}`);
  return { name: spec.name, options: spec.options, weights: spec.weights, seed: spec.seed };
}

/** A copy of the model's state (the caller's tensors stay untouched, the copies can be transferred). */
export function modelState(model: ImageClassifier): ModelState {
  return {
    entries: [...model.stateDict()].map(([key, t]) => [key, t.data.slice(), [...t.shape]]),
    training: model.training,
    requiresGrad: model
      .namedParameters()
      .filter(([, t]) => t.requiresGrad)
      .map(([key]) => key),
  };
}

/** Overwrites the model's tensors, mode and trainable flags with `state` (from modelState). */
export function applyModelState(model: ImageClassifier, state: ModelState): void {
  model.loadStateDict(new Map(state.entries.map(([key, data, shape]) => [key, new Tensor(data, shape)])));
  model.train(state.training);
  const trainable = new Set(state.requiresGrad);
  for (const [key, t] of model.namedParameters()) t.requiresGrad = trainable.has(key);
}

/** The message that lets a worker build the model; `what` names the argument in errors. */
export function describeModel(fn: string, what: string, ref: unknown): ModelMessage {
  if (ref instanceof ImageClassifier) {
    const className = classNameOf(ref);
    if (!className)
      throw new TypeError(
        `${fn}: ${what} is a ${ref.constructor.name}; only lkvit's own classes (${Object.keys(CLASSES).join(', ')}) can be sent to a worker`,
      );
    const config = (ref as unknown as { config: unknown }).config;
    return { kind: 'instance', className, config, mean: ref.mean, std: ref.std, state: modelState(ref) };
  }
  if (ref !== null && typeof ref === 'object' && !Array.isArray(ref) && 'name' in ref)
    return { kind: 'spec', spec: checkSpec(fn, what, ref as ModelSpec) };
  throw new TypeError(
    `${fn}: ${what} must be an ImageClassifier (createModel / loadModel) or a spec { name, options?, weights?, seed? }, got ${typeof ref === 'function' ? 'a function' : typeof ref}`,
  );
}

/** The buffers of a model message, to transfer rather than copy. */
export function modelTransferables(m: ModelMessage): ArrayBuffer[] {
  return m.kind === 'instance' ? m.state.entries.map(([, data]) => data.buffer as ArrayBuffer) : [];
}

/** Builds the model a message describes (in the worker). */
export function rebuildModel(m: ModelMessage): ImageClassifier {
  if (m.kind === 'spec') {
    const { name, options = {}, weights, seed } = m.spec;
    if (weights !== undefined) return loadModel(name, weights, options).model;
    if (seed !== undefined) manualSeed(seed);
    return createModel(name, options);
  }
  const Class = CLASSES[m.className] as unknown as new (config: unknown, mean: Triple, std: Triple) => ImageClassifier;
  const model = withoutInit(() => new Class(m.config, m.mean, m.std));
  applyModelState(model, m.state);
  return model;
}
