// lkvit train: fit a model (from scratch or from a checkpoint) on x/y from a .safetensors file,
// with the optimiser, schedule, regularisation and adversarial training fit() offers; writes the
// weights and, per epoch, a resumable checkpoint.
import { readLabeledSafetensors, tensorDataset } from '../io/dataset';
import { createModel } from '../models/registry';
import { RepLKNet } from '../models/replknet';
import { saveWeights } from '../nn/serialize';
import { manualSeed } from '../nn/init';
import { fit, FitOptions, OptimizerSpec } from '../train';
import { AdversarialOptions } from '../train/adversarial';
import { parseAugmentText, parseAugment } from '../train/augment';
import {
  FlagSpec,
  parseFlags,
  usage,
  intFlag,
  seedFlag,
  fractionFlag,
  choiceFlag,
  existingFile,
  requiredFlag,
  UsageError,
  COMMON_FLAGS,
  commandOutput,
  checkOutputs,
  jsonFile,
} from './args';
import {
  MODEL_FLAGS,
  loadModelFromFlags,
  modelNameFlag,
  configFlag,
  configKeys,
  normalizationFlag,
  deviceFlag,
} from './model_flags';

const FLAGS: Record<string, FlagSpec> = {
  ...MODEL_FLAGS,
  weights: { type: 'string', help: 'start from this checkpoint (fine-tuning)', default: 'random initialisation' },
  input: { type: 'string', help: '.safetensors with x [N, 3, H, W] in [0, 1] and y (integer labels)', required: true },
  validation: {
    type: 'string',
    help: 'held-out .safetensors (same keys), evaluated after every epoch',
    default: 'none',
  },
  epochs: { type: 'string', help: 'passes over the data', required: true },
  'batch-size': { type: 'string', help: 'samples per step (the last incomplete batch is dropped)', default: '64' },
  optimizer: { type: 'string', help: 'adamw|sgd', default: 'adamw' },
  lr: { type: 'string', help: 'peak learning rate (after the warm-up)', default: '1e-3' },
  'weight-decay': {
    type: 'string',
    help: 'weight decay (not on biases, norms, ViT tokens)',
    default: 'adamw 0.05, sgd 0',
  },
  momentum: { type: 'string', help: 'sgd momentum', default: '0.9' },
  nesterov: { type: 'boolean', help: 'sgd: Nesterov momentum', default: 'off' },
  'warmup-epochs': { type: 'string', help: 'linear warm-up, then cosine decay', default: '0' },
  'min-lr': { type: 'string', help: 'learning rate at the end of the cosine', default: '0' },
  'clip-grad-norm': { type: 'string', help: 'clip the global gradient norm to this', default: 'off' },
  'label-smoothing': { type: 'string', help: 'label smoothing of the cross-entropy', default: '0' },
  augment: {
    type: 'string',
    help: 'augmentations, in order: rand-m9-mstd0.5-inc1,erase-p0.25-pixel,mixup-a0.8,cutmix-a1 or a JSON list',
    default: 'none',
  },
  adversarial: { type: 'string', help: 'pgd-at|trades: adversarial training (L-inf)', default: 'off' },
  eps: { type: 'string', help: 'adversarial training radius, e.g. 8/255', default: '8/255' },
  alpha: { type: 'string', help: 'attack step size', default: '2.5 eps / attack-steps' },
  'attack-steps': { type: 'string', help: 'attack iterations per batch', default: '10' },
  beta: { type: 'string', help: 'TRADES: weight of the KL term', default: '6' },
  'eps-warmup-epochs': { type: 'string', help: 'eps rises linearly from 0 over these epochs', default: '0' },
  space: { type: 'string', help: 'pixel|normalized: units of eps and alpha', default: 'pixel' },
  seed: { type: 'string', help: 'initialisation, shuffling, drop path and attack starts', default: '0' },
  checkpoint: {
    type: 'string',
    help: '.safetensors written after every epoch (weights, optimiser state, history)',
    default: 'none',
  },
  resume: { type: 'boolean', help: 'continue from --checkpoint if it exists', default: 'off' },
  out: { type: 'string', help: 'the trained weights (.safetensors, loadable with --weights)', required: true },
  ...COMMON_FLAGS,
};
const SYNOPSIS =
  '--model NAME [--config JSON] --input train.safetensors --epochs N --out weights.safetensors [--validation val.safetensors] [--adversarial pgd-at|trades --eps 8/255 ...]';

export async function trainCommand(argv: string[], print: (s: string) => void): Promise<void> {
  const cmd = 'train';
  const f = parseFlags(argv, FLAGS, cmd);
  if (f.help) return print(usage(cmd, SYNOPSIS, FLAGS));
  const out = commandOutput(f, print);
  const name = modelNameFlag(f, 'model', cmd) ?? requiredFlag(f, 'model', cmd);
  const input = existingFile(f, 'input', cmd) ?? requiredFlag(f, 'input', cmd);
  const validation = existingFile(f, 'validation', cmd);
  const epochs = intFlag(f, 'epochs', cmd) ?? Number(requiredFlag(f, 'epochs', cmd));
  const weightsOut = requiredFlag(f, 'out', cmd);
  const seed = seedFlag(f, cmd) ?? 0;
  const optimizerType = choiceFlag(f, 'optimizer', ['adamw', 'sgd'] as const, 'adamw', cmd);
  const lr = fractionFlag(f, 'lr', cmd, { positive: true }) ?? 1e-3;
  const weightDecay = fractionFlag(f, 'weight-decay', cmd) ?? (optimizerType === 'adamw' ? 0.05 : 0);
  if (optimizerType === 'adamw' && (f.momentum !== undefined || f.nesterov))
    throw new UsageError(`${cmd}: --momentum and --nesterov apply to --optimizer sgd`);
  const optimizer: OptimizerSpec =
    optimizerType === 'sgd'
      ? {
          type: 'sgd',
          lr,
          weightDecay,
          momentum: fractionFlag(f, 'momentum', cmd) ?? 0.9,
          nesterov: Boolean(f.nesterov),
        }
      : { type: 'adamw', lr, weightDecay };
  const method =
    f.adversarial === undefined ? null : choiceFlag(f, 'adversarial', ['pgd-at', 'trades'] as const, 'pgd-at', cmd);
  const attackFlags = ['eps', 'alpha', 'attack-steps', 'beta', 'eps-warmup-epochs', 'space'].filter(
    (k) => f[k] !== undefined,
  );
  if (!method && attackFlags.length)
    throw new UsageError(`${cmd}: --${attackFlags[0]} needs --adversarial pgd-at|trades`);
  if (method !== 'trades' && f.beta !== undefined)
    throw new UsageError(`${cmd}: --beta applies to --adversarial trades`);
  let adversarial: AdversarialOptions | undefined;
  if (method) {
    adversarial = {
      method,
      eps: fractionFlag(f, 'eps', cmd, { positive: true }) ?? 8 / 255,
      steps: intFlag(f, 'attack-steps', cmd) ?? 10,
      warmupEpochs: fractionFlag(f, 'eps-warmup-epochs', cmd) ?? 0,
      space: choiceFlag(f, 'space', ['pixel', 'normalized'] as const, 'pixel', cmd),
    };
    const alpha = fractionFlag(f, 'alpha', cmd, { positive: true });
    if (alpha !== undefined) adversarial.alpha = alpha;
    const beta = fractionFlag(f, 'beta', cmd);
    if (beta !== undefined) adversarial.beta = beta;
  }
  const clip = fractionFlag(f, 'clip-grad-norm', cmd, { positive: true });
  if (f.resume && f.checkpoint === undefined) throw new UsageError(`${cmd}: --resume needs --checkpoint`);
  const augment = augmentFlag(f.augment, cmd);
  const json = jsonFile(f);
  checkOutputs(
    cmd,
    [
      ['input', input],
      ['validation', validation],
      ['weights', f.weights as string | undefined],
    ],
    [
      { flag: 'out', path: weightsOut },
      ...(f.checkpoint !== undefined ? [{ flag: 'checkpoint', path: String(f.checkpoint) }] : []),
      ...(json !== undefined ? [{ flag: 'json', path: json }] : []),
    ],
  );

  // From scratch (seeded) or from a checkpoint.
  let model;
  if (f.weights !== undefined) model = loadModelFromFlags(f, cmd, out.say);
  else {
    const numClasses = intFlag(f, 'num-classes', cmd),
      mean = normalizationFlag(f, 'mean', cmd),
      std = normalizationFlag(f, 'std', cmd);
    manualSeed(seed);
    model = createModel(name, {
      ...configKeys(
        configFlag(f.config as string | undefined, cmd),
        name,
        cmd,
        numClasses !== undefined ? { numClasses } : {},
      ),
      ...(numClasses !== undefined && { numClasses }),
      ...(mean && { mean }),
      ...(std && { std }),
    });
    if (f.reparam) throw new UsageError(`${cmd}: --reparam makes an inference model; train first, then reparameterise`);
    model.to(deviceFlag(f, cmd));
  }
  if (model instanceof RepLKNet && model.isReparameterized && model.config.smallKernel !== null)
    out.say('note: training the merged (reparameterised) RepLKNet: one kernel per block, no small-kernel branch');

  const read = (file: string) => {
    const { x, y } = readLabeledSafetensors(file);
    return tensorDataset(x, y);
  };
  const data = read(input);
  const options: FitOptions = {
    epochs,
    batchSize: intFlag(f, 'batch-size', cmd) ?? 64,
    optimizer,
    seed,
    warmupEpochs: fractionFlag(f, 'warmup-epochs', cmd) ?? 0,
    minLr: fractionFlag(f, 'min-lr', cmd) ?? 0,
    labelSmoothing: fractionFlag(f, 'label-smoothing', cmd) ?? 0,
    ...(clip !== undefined && { clipGradNorm: clip }),
    ...(augment && { augment }),
    ...(adversarial && { adversarial }),
    ...(validation !== undefined && { validation: read(validation) }),
    ...(f.checkpoint !== undefined && { checkpoint: String(f.checkpoint), resume: Boolean(f.resume) }),
  };
  if (options.batchSize! > data.length)
    throw new UsageError(`${cmd}: --batch-size ${options.batchSize} exceeds the ${data.length} samples of --input`);
  if (augment && parseAugment(cmd, augment).some((s) => s.name === 'mix') && options.batchSize! % 2 !== 0)
    throw new UsageError(
      `${cmd}: mixup/cutmix pair each sample with the batch's flip; --batch-size must be even, got ${options.batchSize}`,
    );
  const steps = Math.floor(data.length / options.batchSize!);
  const bar = out.progress('train', epochs * steps);
  const { history } = await fit(model, data, {
    ...options,
    onStep: (s) =>
      bar.update((s.epoch - 1) * steps + s.step, epochs * steps, `epoch ${s.epoch} loss ${s.loss.toFixed(3)}`),
    onEpoch: (m) =>
      out.say(
        `epoch ${m.epoch}/${epochs}: loss ${m.trainLoss.toFixed(4)}, train acc ${m.trainAccuracy.toFixed(4)}` +
          (m.valAccuracy === undefined ? '' : `, val acc ${m.valAccuracy.toFixed(4)}`) +
          `, lr ${m.lr.toExponential(2)}` +
          (m.eps === undefined ? '' : `, eps ${m.eps.toFixed(4)}`) +
          `, ${m.seconds.toFixed(1)} s`,
      ),
  });
  bar.finish();
  saveWeights(model, weightsOut, { model: name, epochs: String(epochs) });
  out.say(`weights written to ${weightsOut}`);
  out.result({ model: name, input, settings: { ...options, validation: validation ?? null }, history });
}

function augmentFlag(text: unknown, cmd: string) {
  if (text === undefined) return undefined;
  try {
    return parseAugmentText(cmd, String(text));
  } catch (e) {
    throw new UsageError(`${cmd}: --augment: ${(e as Error).message.replace(`${cmd}: `, '')}`);
  }
}
