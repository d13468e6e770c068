// lkvit ablate augment: the robust-ViT study's augmentation ablation as one command: the same model
// trained under each of the 16 subsets of {CutMix, RandAugment, MixUp, Random Erasing}, then its
// clean, PGD and AutoAttack accuracy in one table and one figure. Resumable (run it again with the
// same --out) and shardable (--shard i/n, then lkvit merge).
import * as path from 'path';
import { readLabeledSafetensors, tensorDataset } from '../io/dataset';
import {
  runAugmentAblation,
  ablationTable,
  ABLATION_FILES,
  AblationSettings,
  DEFAULT_ABLATION_SETTINGS,
  QUICK_ABLATION_SETTINGS,
} from '../train/ablation';
import { shardFileName } from '../shard/spec';
import {
  FlagSpec,
  parseFlags,
  usage,
  intFlag,
  seedFlag,
  fractionFlag,
  choiceFlag,
  existingFile,
  UsageError,
  COMMON_FLAGS,
  commandOutput,
  checkOutputs,
  jsonFile,
} from './args';
import { modelNameFlag, configFlag, configKeys } from './model_flags';
import { SHARD_FLAG, shardFlag } from './shard_flag';
import { phaseBars } from './demo';

const D = DEFAULT_ABLATION_SETTINGS,
  Q = QUICK_ABLATION_SETTINGS;
const FLAGS: Record<string, FlagSpec> = {
  out: {
    type: 'string',
    help: `folder for the run's state (ablation-run.json, runs/) and the report (${ABLATION_FILES.join(', ')}); the same --out resumes`,
    required: true,
  },
  quick: {
    type: 'boolean',
    help: `fewer samples, epochs and attack iterations (${Q.trainSamples} digits, ${Q.epochs} epochs, ${Q.testSamples} test digits): all 16 runs in a few minutes`,
    default: 'off',
  },
  model: {
    type: 'string',
    help: 'model to train (lkvit models lists them)',
    default: 'a small ViT for the 32x32 digits (vit_ti16 with 8x8 patches, width 64, depth 4)',
  },
  config: {
    type: 'string',
    help: 'the model\'s options as JSON, e.g. \'{"imageSize":32,"patchSize":4,"numClasses":10}\'',
    default: '{} (with --model)',
  },
  input: {
    type: 'string',
    help: 'training .safetensors (x [N, 3, H, W] in [0, 1], y) instead of the demo digits',
    default: 'the demo digits',
  },
  validation: {
    type: 'string',
    help: 'held-out .safetensors (same keys) for the accuracies; goes with --input',
    default: 'the demo digits',
  },
  combinations: {
    type: 'string',
    help: 'only these, comma-separated: none, cutmix, cutmix+mixup, ... (members of cutmix, randaugment, mixup, erase joined by +)',
    default: 'all 16',
  },
  epochs: { type: 'string', help: 'training epochs of each run', default: `${D.epochs}, --quick ${Q.epochs}` },
  'train-samples': {
    type: 'string',
    help: 'training samples used (a prefix)',
    default: `${D.trainSamples}, --quick ${Q.trainSamples}`,
  },
  'test-samples': {
    type: 'string',
    help: 'held-out samples attacked (a prefix)',
    default: `${D.testSamples}, --quick ${Q.testSamples}`,
  },
  'batch-size': {
    type: 'string',
    help: 'training batch size (even: MixUp/CutMix pair samples)',
    default: `${D.batchSize}, --quick ${Q.batchSize}`,
  },
  lr: { type: 'string', help: 'AdamW peak learning rate', default: String(D.lr) },
  adversarial: { type: 'string', help: 'none|pgd-at|trades: train each run adversarially at --eps', default: 'none' },
  eps: { type: 'string', help: 'L-inf radius in pixels for adversarial training and both attacks', default: '8/255' },
  'attack-steps': {
    type: 'string',
    help: 'attack steps per training batch (with --adversarial)',
    default: `${D.trainAttackSteps}, --quick ${Q.trainAttackSteps}`,
  },
  'eps-warmup-epochs': {
    type: 'string',
    help: 'eps rises linearly from 0 over these epochs (with --adversarial)',
    default: '0',
  },
  'pgd-steps': { type: 'string', help: 'PGD steps of the evaluation', default: `${D.pgdSteps}, --quick ${Q.pgdSteps}` },
  'autoattack-steps': {
    type: 'string',
    help: 'APGD/FAB-T iterations of the AutoAttack ensemble (apgd-ce, apgd-t, fab-t, square)',
    default: `${D.autoattackSteps}, --quick ${Q.autoattackSteps}`,
  },
  'autoattack-queries': {
    type: 'string',
    help: 'Square queries of the ensemble',
    default: `${D.autoattackQueries}, --quick ${Q.autoattackQueries}`,
  },
  seed: {
    type: 'string',
    help: 'initial weights (the same for every run), data split, shuffling, augmentation and attack draws',
    default: '0',
  },
  ...SHARD_FLAG,
  ...COMMON_FLAGS,
};
const STUDIES = ['augment'];
const SYNOPSIS = `augment --out DIR [--quick] [--adversarial pgd-at] [--shard i/n] [--model M --config JSON --input train.safetensors --validation val.safetensors]\n  the 16 trainings of every subset of CutMix, RandAugment, MixUp, Random Erasing; again with the same --out resumes`;

export async function ablateCommand(argv: string[], print: (s: string) => void): Promise<void> {
  const cmd = 'ablate';
  const [study, ...rest] = argv;
  if (study === undefined || study === '--help') {
    // --help may come with the common flags (--json, --quiet).
    parseFlags(rest, FLAGS, cmd);
    return print(usage(cmd, SYNOPSIS, FLAGS));
  }
  if (!STUDIES.includes(study))
    throw new UsageError(
      `${cmd}: unknown study '${study}'; choose one of ${STUDIES.join(', ')} ('lkvit ablate --help')`,
    );
  const f = parseFlags(rest, FLAGS, cmd);
  if (f.help) return print(usage(cmd, SYNOPSIS, FLAGS));
  if (f.out === undefined)
    throw new UsageError(`${cmd}: --out DIR is required (it holds the run's state, so that the same --out resumes)`);
  const dir = String(f.out);
  const shard = shardFlag(f, cmd);
  const settings: Partial<AblationSettings> = {};
  const ints: [string, keyof AblationSettings][] = [
    ['epochs', 'epochs'],
    ['train-samples', 'trainSamples'],
    ['test-samples', 'testSamples'],
    ['batch-size', 'batchSize'],
    ['attack-steps', 'trainAttackSteps'],
    ['pgd-steps', 'pgdSteps'],
    ['autoattack-steps', 'autoattackSteps'],
    ['autoattack-queries', 'autoattackQueries'],
  ];
  for (const [flag, key] of ints) {
    const v = intFlag(f, flag, cmd);
    if (v !== undefined) (settings as Record<string, number>)[key] = v;
  }
  const batch = settings.batchSize;
  if (batch !== undefined && batch % 2 !== 0)
    throw new UsageError(
      `${cmd}: --batch-size must be even (MixUp/CutMix pair each sample with the batch's flip), got ${batch}`,
    );
  const adversarial = choiceFlag(f, 'adversarial', ['none', 'pgd-at', 'trades'] as const, 'none', cmd);
  if (adversarial === 'none')
    for (const k of ['attack-steps', 'eps-warmup-epochs'])
      if (f[k] !== undefined) throw new UsageError(`${cmd}: --${k} needs --adversarial pgd-at|trades`);
  settings.adversarial = adversarial;
  const eps = fractionFlag(f, 'eps', cmd, { positive: true });
  if (eps !== undefined && eps > 1)
    throw new UsageError(`${cmd}: --eps must be at most 1 (pixels in [0, 1]), got '${String(f.eps)}'`);
  if (eps !== undefined) settings.eps = eps;
  const lr = fractionFlag(f, 'lr', cmd, { positive: true });
  if (lr !== undefined) settings.lr = lr;
  const warm = fractionFlag(f, 'eps-warmup-epochs', cmd);
  if (warm !== undefined) settings.epsWarmupEpochs = warm;
  const seed = seedFlag(f, cmd) ?? 0;

  // The model: a registry name and its options, or the default ViT for the digits.
  if (f.config !== undefined && f.model === undefined) throw new UsageError(`${cmd}: --config needs --model`);
  const name = modelNameFlag(f, 'model', cmd);
  const model =
    name === undefined
      ? undefined
      : { name, config: configKeys(configFlag(f.config as string | undefined, cmd), name, cmd) };
  if ((f.input === undefined) !== (f.validation === undefined))
    throw new UsageError(`${cmd}: --input and --validation go together (your own training and held-out data)`);
  if (f.input !== undefined && model === undefined)
    throw new UsageError(
      `${cmd}: --input needs --model (and --config for its size and classes); the default model is for the 32x32 digits`,
    );
  const input = existingFile(f, 'input', cmd),
    validation = existingFile(f, 'validation', cmd);
  const combinations =
    f.combinations === undefined
      ? undefined
      : String(f.combinations)
          .split(',')
          .map((s) => s.trim());
  const json = jsonFile(f);
  checkOutputs(
    cmd,
    [
      ['input', input],
      ['validation', validation],
    ],
    [
      {
        flag: 'out',
        path: dir,
        folder: shard ? [shardFileName('ablation', shard)] : ABLATION_FILES,
        createsParents: true,
      },
      ...(json !== undefined ? [{ flag: 'json', path: json }] : []),
    ],
  );
  const out = commandOutput(f, print);
  const read = (file: string) => {
    const { x, y } = readLabeledSafetensors(file);
    return tensorDataset(x, y);
  };
  const bars = phaseBars(out.progress);
  let result;
  try {
    result = await runAugmentAblation({
      out: dir,
      quick: Boolean(f.quick),
      settings,
      seed,
      ...(model && { model }),
      ...(combinations && { combinations }),
      ...(shard && { shard }),
      ...(input !== undefined && validation !== undefined && { data: { train: read(input), test: read(validation) } }),
      onProgress: bars.update,
      log: (line) => {
        bars.end();
        out.say(line);
      },
    });
  } catch (e) {
    // A bad combination name or setting is the user's input: exit 2, one line.
    if (e instanceof RangeError && /^runAugmentAblation: (combination|settings|the folder)/.test(e.message))
      throw new UsageError(e.message.replace('runAugmentAblation', cmd));
    throw e;
  } finally {
    bars.end();
  }
  const { report, skipped, trained, files } = result;
  if (shard)
    out.say(
      `ablation shard ${shard.index}/${shard.count}: ${report.rows.length} combination(s) -> ${path.join(dir, files[0])} ('lkvit merge' joins the shards)`,
    );
  else for (const line of ablationTable(report).trimEnd().split('\n')) out.say(line);
  out.say(`${trained} run(s) trained, ${skipped} reused from the folder; ${report.seconds.toFixed(1)} s -> ${dir}/`);
  out.result({ ...report, skipped, trained, files });
}
