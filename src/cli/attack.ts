// lkvit attack: runs one attack over x/y from a .safetensors file, writes x_adv and prints the figures.
import * as path from 'path';
import { readLabeledSafetensors, tensorDataset } from '../io/dataset';
import { writeSafetensors } from '../io';
import { runAttack, ATTACKS, RunAttackResult } from '../attacks/run';
import type { RunAttackOptions } from '../attacks/run';
import { sha256File } from '../io/hash';
import { shardSlice, shardFileName } from '../shard/spec';
import { ShardReport, SHARD_FORMAT, writeShardReport } from '../shard/report';
import {
  FlagSpec,
  Flags,
  parseFlags,
  usage,
  intFlag,
  seedFlag,
  fractionFlag,
  choiceFlag,
  UsageError,
  COMMON_FLAGS,
  commandOutput,
  CommandOutput,
  checkOutputs,
  jsonFile,
  OutputPath,
} from './args';
import { MODEL_FLAGS, loadModelFromFlags } from './model_flags';
import { SHARD_FLAG, shardFlag } from './shard_flag';

const FLAGS: Record<string, FlagSpec> = {
  ...MODEL_FLAGS,
  input: { type: 'string', help: '.safetensors with x [N, 3, H, W] in [0, 1] and y (integer labels)', required: true },
  attack: { type: 'string', help: `${Object.keys(ATTACKS).join('|')}`, default: 'pgd' },
  eps: { type: 'string', help: 'perturbation radius, e.g. 4/255', default: '4/255 for linf, 0.5 for l2' },
  alpha: { type: 'string', help: 'step size', default: 'pgd 2.5 eps / steps, taig 1/255' },
  steps: { type: 'string', help: 'iterations', default: 'pgd 10, apgd and fab-t 100, taig from eps / alpha' },
  norm: { type: 'string', help: 'linf|l2', default: 'linf' },
  space: {
    type: 'string',
    help: "pixel|normalized: units of eps and alpha ('normalized' = units of the model's std)",
    default: 'pixel',
  },
  restarts: {
    type: 'string',
    help: 'pgd/apgd/fab-t: independent runs, each sample keeps its worst case',
    default: '1',
  },
  queries: { type: 'string', help: 'square: queries per sample', default: '5000' },
  'patch-size': {
    type: 'string',
    help: 'patch: side P of the square patch in pixels (required with --attack patch)',
    default: 'none',
  },
  location: {
    type: 'string',
    help: "patch: top-left corner x,y of the patch, or 'random' (one per image, from the seed)",
    default: 'random',
  },
  'no-random-start': {
    type: 'boolean',
    help: 'pgd: start from x instead of a random point in the ball',
    default: 'off',
  },
  seed: {
    type: 'string',
    help: 'seed of every random choice; same seed, same inputs, same batch size: same result',
    default: '0',
  },
  surrogate: {
    type: 'string',
    help: 'transfer: craft on this model (name) and judge on --model',
    default: 'none: a white-box attack',
  },
  'surrogate-weights': { type: 'string', help: "transfer: the surrogate's checkpoint", default: 'none' },
  'batch-size': { type: 'string', help: 'samples per batch', default: '16' },
  limit: { type: 'string', help: 'attack only the first N samples', default: 'all' },
  out: {
    type: 'string',
    help: "output .safetensors with x_adv, y, clean_pred, adv_pred (with --shard: the slice's)",
    default: 'none: the figures only',
  },
  ...SHARD_FLAG,
  ...COMMON_FLAGS,
};
const SYNOPSIS =
  '--model NAME --weights FILE --input data.safetensors --attack NAME [--eps 4/255 ...] [--out adv.safetensors] [--json FILE]\n  with --shard i/n: --json FILE is required and receives the shard report (ATTACK.shard-i-of-n.json is a good name)';

export async function attackCommand(argv: string[], print: (s: string) => void): Promise<void> {
  const cmd = 'attack';
  const f = parseFlags(argv, FLAGS, cmd);
  if (f.help) return print(usage(cmd, SYNOPSIS, FLAGS));
  if (f.input === undefined) throw new UsageError(`${cmd}: --input is required ('lkvit attack --help')`);
  const attack = choiceFlag(f, 'attack', Object.keys(ATTACKS), 'pgd', cmd);
  const norm = choiceFlag(f, 'norm', ['linf', 'l2'] as const, 'linf', cmd);
  const space = choiceFlag(f, 'space', ['pixel', 'normalized'] as const, 'pixel', cmd);
  if ((f.surrogate === undefined) !== (f['surrogate-weights'] === undefined))
    throw new UsageError(`${cmd}: --surrogate and --surrogate-weights go together`);
  const options: Record<string, unknown> =
    attack === 'patch'
      ? patchOptions(f, cmd)
      : {
          eps: fractionFlag(f, 'eps', cmd) ?? (norm === 'linf' ? 4 / 255 : 0.5),
          seed: seedFlag(f, cmd) ?? 0,
          space,
        };
  if (norm !== 'linf') options.norm = norm;
  if (attack !== 'patch' && (f['patch-size'] !== undefined || f.location !== undefined))
    throw new UsageError(`${cmd}: --patch-size and --location apply to --attack patch only`);
  const setIf = (key: string, v: unknown, only: string[]) => {
    if (v === undefined) return;
    if (!only.some((a) => attack.startsWith(a)))
      throw new UsageError(
        `${cmd}: --${key === 'randomStart' ? 'no-random-start' : key} does not apply to --attack ${attack}`,
      );
    options[key] = v;
  };
  setIf('alpha', fractionFlag(f, 'alpha', cmd, { positive: true }), ['pgd', 'taig', 'patch']);
  setIf('steps', intFlag(f, 'steps', cmd), ['pgd', 'apgd', 'fab', 'autoattack', 'taig', 'patch']);
  setIf('restarts', intFlag(f, 'restarts', cmd), ['pgd', 'apgd', 'fab']);
  setIf('queries', intFlag(f, 'queries', cmd), ['square', 'autoattack']);
  setIf('randomStart', f['no-random-start'] ? false : undefined, ['pgd']);

  const shard = shardFlag(f, cmd);
  if (shard && (typeof f.json !== 'string' || f.json === '-'))
    throw new UsageError(
      `${cmd}: --shard needs --json FILE for the shard report (e.g. --json ${shardFileName(attack, shard)})`,
    );
  if (
    shard &&
    f.out !== undefined &&
    path.resolve(path.dirname(String(f.out))) !== path.resolve(path.dirname(String(f.json)))
  )
    throw new UsageError(
      `${cmd}: with --shard, --out must be in the folder of --json (merge reads x_adv beside the shard report)`,
    );
  const json = jsonFile(f);
  checkOutputs(
    cmd,
    [
      ['input', String(f.input)],
      ['weights', f.weights as string | undefined],
      ['surrogate-weights', f['surrogate-weights'] as string | undefined],
    ],
    [
      ...(f.out !== undefined ? [{ flag: 'out', path: String(f.out) }] : []),
      ...(json !== undefined ? [{ flag: 'json', path: json, createsParents: shard !== undefined } as OutputPath] : []),
    ],
  );
  const output = commandOutput(f, print);
  const model = loadModelFromFlags(f, cmd, output.say);
  const surrogate =
    f.surrogate === undefined
      ? undefined
      : loadModelFromFlags(f, cmd, output.say, { model: 'surrogate', weights: 'surrogate-weights' });
  let { x, y } = readLabeledSafetensors(String(f.input));
  const limit = intFlag(f, 'limit', cmd);
  let data = tensorDataset(x, y);
  if (limit !== undefined && limit < data.length) {
    const part = await data.load(0, limit);
    ({ x, y } = part);
    data = tensorDataset(x, y);
  }
  if (attack === 'patch') checkPatchFits(options, x.shape, cmd);
  const batchSize = intFlag(f, 'batch-size', cmd) ?? 16;
  // A patch's pixels are free in [0, 1]: recorded as eps 1 (pixel, linf), the bound merge checks.
  const settings = {
    attack,
    model: model.modelName ?? String(f.model),
    weights: path.basename(String(f.weights)),
    ...(surrogate && { surrogate: String(f.surrogate) }),
    ...options,
    ...(attack === 'patch' && { eps: 1, space: 'pixel' }),
    norm,
  };
  const bar = output.progress(shard ? `${attack} ${shard.index}/${shard.count}` : attack, data.length);
  // The attack's name and options were checked above (and are checked again at run time).
  const r = await runAttack(model, data, {
    attack,
    options,
    batchSize,
    surrogate,
    keepAdversarial: f.out !== undefined,
    shard,
    onProgress: (done: number, total: number) => bar.update(done, total),
  } as RunAttackOptions);
  bar.finish();
  if (!shard) return writeAttackOutputs(r, settings, f.out === undefined ? undefined : String(f.out), output);

  // A shard: its slice's x_adv (if --out) and the report merge needs, with what must match across shards.
  const file = String(f.json);
  const report: ShardReport<AttackShardPayload> = {
    format: SHARD_FORMAT,
    kind: 'attack',
    shard,
    slice: shardSlice(data.length, batchSize, shard),
    run: {
      settings,
      batchSize,
      weightsSha256: await sha256File(String(f.weights), 'attack', '--weights'),
      surrogateWeightsSha256:
        f.surrogate === undefined
          ? null
          : await sha256File(String(f['surrogate-weights']), 'attack', '--surrogate-weights'),
      inputSha256: await sha256File(String(f.input), 'attack', '--input'),
      samples: data.length,
      // What merge checks every value against: prediction range and the norms' bound.
      numClasses: model.numClasses,
      attackStd: [...(surrogate ?? model).std],
      sampleShape: x.shape.slice(1),
    },
    seconds: r.summary.seconds,
    payload: {
      attack: r.attack,
      transfer: r.summary.transfer,
      cleanPred: Array.from(r.cleanPred),
      advPred: Array.from(r.advPred),
      y: Array.from(r.y),
      linf: Array.from(r.linf),
      l2: Array.from(r.l2),
      xAdvShape: r.xAdv ? [...r.xAdv.shape] : null,
    },
  };
  if (f.out !== undefined && r.xAdv) {
    writeAdversarial(String(f.out), r, settings);
    report.files = { xAdv: path.basename(String(f.out)) };
  }
  writeShardReport(file, report);
  output.say(
    `${attack} shard ${shard.index}/${shard.count}: samples ${report.slice.start}-${report.slice.end} of ${report.slice.total} -> ${file} ('lkvit merge' joins the shards)`,
  );
}

// --attack patch: --patch-size P [--location x,y|random]; eps, norm and space do not apply.
function patchOptions(f: Flags, cmd: string): Record<string, unknown> {
  for (const flag of ['eps', 'norm', 'space'])
    if (f[flag] !== undefined)
      throw new UsageError(
        `${cmd}: --${flag} does not apply to --attack patch (the patch's pixels are free in [0, 1])`,
      );
  const patchSize = intFlag(f, 'patch-size', cmd);
  if (patchSize === undefined)
    throw new UsageError(`${cmd}: --attack patch needs --patch-size P (the side of the square, in pixels)`);
  const options: Record<string, unknown> = { patchSize, seed: seedFlag(f, cmd) ?? 0 };
  const at = f.location === undefined ? 'random' : String(f.location);
  if (at !== 'random') {
    const m = /^(\d+),(\d+)$/.exec(at);
    if (!m)
      throw new UsageError(
        `${cmd}: --location must be x,y (the patch's top-left corner, e.g. 10,20) or random, got ${JSON.stringify(at)}`,
      );
    options.location = [Number(m[1]), Number(m[2])];
  }
  return options;
}

function checkPatchFits(options: Record<string, unknown>, shape: readonly number[], cmd: string): void {
  const P = options.patchSize as number,
    [H, W] = shape.slice(2);
  if (P > Math.min(H, W))
    throw new UsageError(`${cmd}: --patch-size ${P} is larger than the ${H}x${W} images of --input`);
  const at = options.location as [number, number] | undefined;
  if (at && (at[0] + P > W || at[1] + P > H))
    throw new UsageError(
      `${cmd}: --location ${at.join(',')} puts the ${P}x${P} patch outside the ${H}x${W} images (x <= ${W - P}, y <= ${H - P})`,
    );
}

/** What an attack shard keeps: the per-sample arrays of its slice (x_adv stays in its .safetensors). */
export interface AttackShardPayload {
  attack: string;
  transfer: boolean;
  cleanPred: number[];
  advPred: number[];
  y: number[];
  linf: number[];
  l2: number[];
  xAdvShape: number[] | null;
}

function writeAdversarial(file: string, r: RunAttackResult, settings: Record<string, unknown>): void {
  writeSafetensors(
    file,
    {
      x_adv: { shape: r.xAdv!.shape, data: r.xAdv!.data },
      // Labels as float32 (exact below 2^24): the writer stores F32 only.
      y: { shape: [r.y.length], data: Float32Array.from(r.y) },
      clean_pred: { shape: [r.y.length], data: Float32Array.from(r.cleanPred) },
      adv_pred: { shape: [r.y.length], data: Float32Array.from(r.advPred) },
    },
    { settings: JSON.stringify(settings) },
  );
}

/** The figures, x_adv (to `outFile`) and the --json result of a whole run: the command's and merge's output. */
export function writeAttackOutputs(
  r: RunAttackResult,
  settings: Record<string, unknown>,
  outFile: string | undefined,
  output: CommandOutput,
): void {
  const s = r.summary;
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  output.say(
    `${r.attack}${settings.surrogate ? ` (crafted on ${String(settings.surrogate)})` : ''} on ${String(settings.model)}, ${s.samples} samples, eps ${Number(settings.eps).toPrecision(4)} ${String(settings.norm)} (${String(settings.space)}), ${s.seconds.toFixed(1)} s`,
  );
  output.say(`clean accuracy   ${pct(s.cleanAccuracy)}`);
  output.say(`robust accuracy  ${pct(s.robustAccuracy)}`);
  output.say(`success rate     ${pct(s.successRate)} (of the correctly classified)`);
  output.say(`mean L-inf ${s.meanLinf.toFixed(5)}, mean L2 ${s.meanL2.toFixed(4)} (pixels in [0, 1])`);
  if (outFile !== undefined && r.xAdv) {
    writeAdversarial(outFile, r, settings);
    output.say(`x_adv -> ${outFile}`);
  }
  output.result({ settings, summary: s });
}
