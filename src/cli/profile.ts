// lkvit profile: one model pass under the profiler; prints the per-op table (calls, time, share,
// GFLOP/s, % of the machine's measured peak, bytes, compute- or memory-bound) or writes it as JSON.
import {
  FlagSpec,
  parseFlags,
  usage,
  intFlag,
  choiceFlag,
  commandOutput,
  existingFile,
  COMMON_FLAGS,
  UsageError,
} from './args';
import { configFlag, configKeys, modelNameFlag } from './model_flags';
import { createModel, loadModel, MODELS } from '../models/registry';
import { RepLKNet } from '../models/replknet';
import { manualSeed } from '../nn';
import { getNumThreads, setNumThreads } from '../index';
import { profile, formatProfile } from '../perf/profile';
import { machinePeak } from '../perf/machine';
import { modelPass, PASSES } from '../perf/passes';

const FLAGS: Record<string, FlagSpec> = {
  model: { type: 'string', help: 'model name (lkvit models lists them)', required: true },
  batch: { type: 'string', help: 'images per pass', default: '1' },
  'image-size': {
    type: 'string',
    help: 'input side in pixels',
    default: "224 (a ViT checkpoint's own size with --weights)",
  },
  pass: {
    type: 'string',
    help: 'forward; attack (forward + input gradient); train (forward, backward to every parameter, AdamW step)',
    default: 'forward',
  },
  weights: {
    type: 'string',
    help: 'checkpoint to load (.safetensors or torch.save .pth/.pt/.bin)',
    default: 'seeded random weights',
  },
  config: {
    type: 'string',
    help: 'architecture overrides as JSON, e.g. \'{"kernelSizes":[13,13,13,13]}\'',
    default: '{}',
  },
  reparam: { type: 'boolean', help: 'RepLKNet: structural re-parameterisation first (inference form)', default: 'off' },
  threads: { type: 'string', help: 'CPU threads', default: "lkvit's default (all cores)" },
  reps: { type: 'string', help: 'profiled passes, after one untimed warm-up pass', default: '1' },
  'refresh-peak': {
    type: 'boolean',
    help: "measure the machine's FMA peak and bandwidth again instead of reading the cache (LKVIT_CACHE_DIR)",
    default: 'off',
  },
  ...COMMON_FLAGS,
};
const SYNOPSIS =
  '--model NAME [--batch N] [--image-size S] [--pass forward|attack|train] [options]\n\n' +
  'Runs a warm-up pass, then profiles --reps passes: one row per native kernel function and the time outside them;\n' +
  "GFLOP/s and % of this machine's measured FP32 FMA peak (cached; LKVIT_CACHE_DIR) per row.\n" +
  'e.g. lkvit profile --model replknet31b --batch 8 --pass attack';

export async function profileCommand(argv: string[], print: (s: string) => void): Promise<void> {
  const cmd = 'profile';
  const f = parseFlags(argv, FLAGS, cmd);
  if (f.help) return print(usage(cmd, SYNOPSIS, FLAGS));
  if (f.model === undefined) throw new UsageError(`${cmd}: --model is required ('lkvit ${cmd} --help')`);
  const name = modelNameFlag(f, 'model', cmd) as string;
  const batch = intFlag(f, 'batch', cmd, 1, 4096) ?? 1;
  const sizeFlag = intFlag(f, 'image-size', cmd, 1, 4096);
  const pass = choiceFlag(f, 'pass', PASSES, 'forward', cmd);
  const threads = intFlag(f, 'threads', cmd, 1, 256);
  const reps = intFlag(f, 'reps', cmd, 1, 100) ?? 1;
  const weights = existingFile(f, 'weights', cmd);
  const overrides = configKeys(configFlag(f.config as string | undefined, cmd), name, cmd);
  // A ViT's position embedding is sized for its input: the image size is part of its architecture.
  if (MODELS[name].family === 'vit' && sizeFlag !== undefined && overrides.imageSize === undefined)
    overrides.imageSize = sizeFlag;
  if (f.reparam && MODELS[name].family !== 'replknet')
    throw new UsageError(`${cmd}: --reparam applies to RepLKNet models, not ${name}`);
  if (f.reparam && pass === 'train')
    throw new UsageError(`${cmd}: --reparam is the inference form; it cannot be combined with --pass train`);
  const out = commandOutput(f, print);

  const previousThreads = getNumThreads();
  if (threads !== undefined) setNumThreads(threads);
  try {
    if (f['refresh-peak']) machinePeak({ refresh: true }); // profile() then finds the new numbers
    manualSeed(1);
    const model = weights ? loadModel(name, weights, overrides).model : createModel(name, overrides);
    if (f.reparam) (model as RepLKNet).reparam();
    const size = sizeFlag ?? model.imageSize ?? 224;
    const run = modelPass(model, pass, batch, size);
    const bar = out.progress(`${name} ${pass}`, reps + 1);
    run(); // warm-up: first-touch allocations and packed weights are not what a user waits for every pass
    bar.update(1);
    const p = profile(() => {
      for (let i = 0; i < reps; i++) {
        run();
        bar.update(i + 2);
      }
    });
    bar.finish();
    const perImage = (gflop: number) => gflop / (reps * batch);
    out.say(
      `profile ${name}${f.reparam ? ' (reparam)' : ''} ${pass}, batch ${batch}, ${size}x${size}, ${reps} pass(es): ` +
        `${(p.total.ms / reps).toFixed(1)} ms per pass, ${((1000 * batch * reps) / p.total.ms).toFixed(2)} images/s; ` +
        `${(perImage(p.total.gflop) / 2).toPrecision(4)} GMAC per image and pass (${(perImage(p.total.usefulGflop) / 2).toPrecision(4)} on the taps that meet the input)`,
    );
    for (const line of formatProfile(p).trimEnd().split('\n')) out.say(line);
    out.result({
      model: name,
      ...(f.reparam && { reparam: true }),
      pass,
      batch,
      imageSize: size,
      reps,
      config: overrides,
      ...(weights && { weights }),
      msPerPass: p.total.ms / reps,
      gmacPerImage: perImage(p.total.gflop) / 2,
      usefulGmacPerImage: perImage(p.total.usefulGflop) / 2,
      machine: p.machine,
      rows: p.rows,
      total: p.total,
    });
  } finally {
    setNumThreads(previousThreads);
  }
}
