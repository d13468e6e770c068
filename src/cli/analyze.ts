// lkvit analyze NAME: one of the study's analyses on a model, written as NAME.json, NAME.csv,
// NAME.svg and NAME.png under --out.
import type { AttackName } from '../attacks/run';
import type { SpaceName } from '../attacks/space';
import * as fs from 'fs';
import * as path from 'path';
import type { ImageClassifier } from '../models/classifier';
import { LabeledDataset, tensorDataset, readLabeledSafetensors, classFolderFiles, imageDataset } from '../io/dataset';
import * as analyses from '../suites/analyses';
import { imagenetIndex } from '../suites/classes';
import { svgToPng } from '../plot';
import { createHash } from 'crypto';
import {
  FlagSpec,
  Flags,
  parseFlags,
  usage,
  intFlag,
  seedFlag,
  parseFraction,
  choiceFlag,
  UsageError,
  COMMON_FLAGS,
  commandOutput,
  CommandOutput,
  checkOutputs,
  jsonFile,
} from './args';
import { MODEL_FLAGS, loadModelFromFlags } from './model_flags';
import { SHARD_FLAG, shardFlag } from './shard_flag';
import { sha256File } from '../io/hash';
import { ShardSpec, shardSlice, shardFileName } from '../shard/spec';
import { ShardReport, SHARD_FORMAT, writeShardReport } from '../shard/report';

const FLAGS: Record<string, FlagSpec> = {
  ...MODEL_FLAGS,
  input: {
    type: 'string',
    help: '.safetensors with x [N, 3, H, W] in [0, 1] and y (labels)',
    default: 'none; give --input or --data',
  },
  data: {
    type: 'string',
    help: 'class-folder tree DIR/LABEL/*.jpg with integer folder names (labels)',
    default: 'none; give --input or --data',
  },
  out: {
    type: 'string',
    help: 'folder for NAME.json, NAME.csv, NAME.svg, NAME.png (with --shard: NAME.shard-I-of-N.json)',
    default: 'none; give --out and/or --json',
  },
  seed: { type: 'string', help: 'seed of the random choices', default: '0' },
  'batch-size': { type: 'string', help: 'images per forward pass', default: '32' },
  limit: { type: 'string', help: 'use only the first N samples', default: 'all; perturbations 8' },
  ratios: { type: 'string', help: 'occlusion: ratios, comma-separated', default: '0.1,...,0.9' },
  mode: { type: 'string', help: 'occlusion: random | salient | non-salient', default: 'random' },
  'patch-size': { type: 'string', help: 'occlusion: patch side in pixels', default: '16' },
  dino: {
    type: 'string',
    help: 'occlusion: ViT model name whose CLS attention gives the saliency',
    default: 'input gradient',
  },
  'dino-weights': { type: 'string', help: 'occlusion: checkpoint of the --dino model', default: 'none' },
  bands: { type: 'string', help: 'frequency: band lower edges in units of pi', default: '0,0.1,...,0.9' },
  'band-width': { type: 'string', help: 'frequency: band width in units of pi', default: '0.1' },
  'noise-std': { type: 'string', help: 'frequency: noise RMS per channel on [0, 1] images', default: '0.1' },
  'noise-l2': { type: 'string', help: 'frequency: noise L2 norm per channel instead of --noise-std', default: 'off' },
  eps: {
    type: 'string',
    help: 'fourier-heatmap: L2 norm of each perturbation; attack-curve: eps when sweeping steps; perturbations: the PGD L-inf eps',
    default: '4 for fourier-heatmap; required for attack-curve --sweep steps; 8/255 for perturbations',
  },
  attack: {
    type: 'string',
    help: 'attack-curve: the attack (fgsm, pgd, apgd-ce, taig-s, ... as lkvit attack)',
    default: 'pgd',
  },
  sweep: { type: 'string', help: 'attack-curve: eps | steps', default: 'eps' },
  values: {
    type: 'string',
    help: 'attack-curve: the eps values (fractions allowed: 1/255,2/255) or step counts',
    default: 'required for attack-curve',
  },
  steps: {
    type: 'string',
    help: 'attack-curve: attack steps when sweeping eps; perturbations: PGD steps',
    default: "the attack's; perturbations 10",
  },
  space: {
    type: 'string',
    help: 'attack-curve, perturbations: pixel | normalized (units of eps; the study used normalized)',
    default: 'pixel',
  },
  surrogate: {
    type: 'string',
    help: 'attack-curve: craft on this model and judge on --model (transfer, as TAIG)',
    default: 'none: white-box',
  },
  'surrogate-weights': { type: 'string', help: "attack-curve: the surrogate's checkpoint", default: 'none' },
  radius: { type: 'string', help: 'fourier-heatmap: largest |frequency|', default: 'min(15, H/2)' },
  stride: { type: 'string', help: 'fourier-heatmap: every n-th frequency', default: '1' },
  'max-blocks': { type: 'string', help: 'lesion: most blocks removed', default: 'half of them' },
  trials: { type: 'string', help: 'lesion: random block sets per count', default: '10' },
  kernels: { type: 'string', help: 'kernel-distance: regular expression on the kernel keys', default: 'all' },
  blocks: { type: 'string', help: 'feature-variance: block names, comma-separated', default: 'all' },
  block: { type: 'string', help: 'erf: block whose centre output is used', default: 'the last spatial one' },
  gradient: { type: 'string', help: "erf: 'relu' (RepLKNet's script) or 'abs'", default: 'relu' },
  compare: {
    type: 'string',
    help: 'perturbations: a second model shown beside --model (e.g. the non-robust one)',
    default: 'none',
  },
  'compare-weights': { type: 'string', help: "perturbations: the --compare model's checkpoint", default: 'none' },
  labels: {
    type: 'string',
    help: 'perturbations: column labels of --model and --compare, comma-separated',
    default: 'the model names',
  },
  normalize: {
    type: 'string',
    help: 'perturbations: minmax (each map to [0, 1] by its own min and max) | symmetric (0 at grey, by max |v|)',
    default: 'minmax',
  },
  ...SHARD_FLAG,
  ...COMMON_FLAGS,
};
/** The analyses whose figures are exact counts over samples, so that shards merge bit-identically. */
export const SHARDABLE = ['occlusion', 'frequency', 'fourier-heatmap', 'lesion'];
const NAMES = [
  'occlusion',
  'frequency',
  'fourier-heatmap',
  'lesion',
  'kernel-distance',
  'feature-variance',
  'erf',
  'attack-curve',
  'perturbations',
];
const SYNOPSIS = `NAME --model M --weights FILE (--input FILE | --data DIR) --out DIR [options]\n  NAME: ${NAMES.join(' | ')}`;

type Print = (line: string) => void;
type Row = (string | number | null)[];
export interface Outcome {
  result: object;
  svg: string;
  csv: { header: string[]; rows: Row[] };
  summary: string;
}

function numberFlag(f: Flags, name: string): number | undefined {
  if (f[name] === undefined) return undefined;
  const v = Number(f[name]);
  if (!Number.isFinite(v)) throw new UsageError(`analyze: --${name} must be a number, got '${String(f[name])}'`);
  return v;
}

function listFlag(f: Flags, name: string): number[] | undefined {
  if (f[name] === undefined) return undefined;
  const v = String(f[name]).split(',').map(parseFraction);
  if (v.some((e) => !Number.isFinite(e)))
    throw new UsageError(
      `analyze: --${name} must be comma-separated numbers or fractions like 0.1,4/255, got '${String(f[name])}'`,
    );
  return v;
}

function loadData(f: Flags, model: ImageClassifier): LabeledDataset {
  if ((f.input === undefined) === (f.data === undefined))
    throw new UsageError('analyze: give exactly one of --input and --data');
  if (f.input !== undefined) {
    const { x, y } = readLabeledSafetensors(String(f.input));
    return tensorDataset(x, y);
  }
  // ImageNet's layout: folders named by WordNet id (n01440764, ...), or by integer label.
  const files = classFolderFiles(String(f.data), (name) => (/^\d+$/.test(name) ? Number(name) : imagenetIndex(name)), {
    strict: true,
  });
  const crop = model.imageSize ?? 224;
  return imageDataset(files, { crop, resize: Math.floor(crop / 0.875) });
}

const pct = (v: number) => (100 * v).toFixed(2);

async function run(
  name: string,
  f: Flags,
  model: ImageClassifier,
  output: CommandOutput,
  shard: ShardSpec | undefined,
): Promise<object> {
  const print = output.say;
  const bar = output.progress(shard ? `${name} ${shard.index}/${shard.count}` : name, 0);
  const common = {
    batchSize: intFlag(f, 'batch-size', 'analyze'),
    limit: intFlag(f, 'limit', 'analyze'),
    onProgress: (done: number, total: number) => bar.update(done, total),
    ...(shard && { shard }),
  };
  try {
    return await compute(name, f, model, print, common);
  } finally {
    bar.finish();
  }
}

type Common = {
  batchSize?: number;
  limit?: number;
  onProgress: (done: number, total: number) => void;
  shard?: ShardSpec;
};

async function compute(name: string, f: Flags, model: ImageClassifier, print: Print, common: Common): Promise<object> {
  const seed = seedFlag(f, 'analyze');
  const data = () => loadData(f, model);
  switch (name) {
    case 'occlusion': {
      const dino =
        f.dino === undefined
          ? undefined
          : loadModelFromFlags(f, 'analyze', print, { model: 'dino', weights: 'dino-weights' });
      return analyses.occlusion(model, data(), {
        ...common,
        seed,
        ratios: listFlag(f, 'ratios'),
        mode: f.mode as analyses.OcclusionMode | undefined,
        patchSize: intFlag(f, 'patch-size', 'analyze'),
        saliency: dino ? { dino } : 'gradient',
      });
    }
    case 'frequency': {
      if (f['noise-std'] !== undefined && f['noise-l2'] !== undefined)
        throw new UsageError('analyze: give at most one of --noise-std and --noise-l2');
      const l2 = numberFlag(f, 'noise-l2'),
        std = numberFlag(f, 'noise-std');
      return analyses.frequencyNoise(model, data(), {
        ...common,
        seed,
        bands: listFlag(f, 'bands'),
        bandWidth: numberFlag(f, 'band-width'),
        noise: l2 !== undefined ? { l2 } : std !== undefined ? { std } : undefined,
      });
    }
    case 'fourier-heatmap':
      return analyses.fourierHeatmap(model, data(), {
        ...common,
        seed,
        eps: numberFlag(f, 'eps'),
        radius: intFlag(f, 'radius', 'analyze', 0),
        stride: intFlag(f, 'stride', 'analyze'),
      });
    case 'lesion':
      return analyses.lesion(model, data(), {
        ...common,
        seed,
        maxBlocks: intFlag(f, 'max-blocks', 'analyze'),
        trials: intFlag(f, 'trials', 'analyze'),
      });
    case 'kernel-distance': {
      let kernels: RegExp | undefined;
      try {
        kernels = f.kernels === undefined ? undefined : new RegExp(String(f.kernels));
      } catch {
        throw new UsageError(`analyze: --kernels must be a regular expression, got '${String(f.kernels)}'`);
      }
      return analyses.kernelDistance(model, { kernels });
    }
    case 'feature-variance':
      return analyses.featureVariance(model, data(), {
        ...common,
        blocks: f.blocks === undefined ? undefined : String(f.blocks).split(','),
      });
    case 'attack-curve': {
      const sweep = (f.sweep ?? 'eps') as 'eps' | 'steps';
      if (sweep !== 'eps' && sweep !== 'steps')
        throw new UsageError(`analyze: --sweep must be eps or steps, got '${String(f.sweep)}'`);
      const values = listFlag(f, 'values');
      if (!values) throw new UsageError('analyze: attack-curve needs --values (eps values or step counts)');
      if ((f.surrogate === undefined) !== (f['surrogate-weights'] === undefined))
        throw new UsageError('analyze: --surrogate and --surrogate-weights go together');
      const eps = f.eps === undefined ? undefined : parseFraction(String(f.eps));
      if (eps !== undefined && !(eps >= 0))
        throw new UsageError(`analyze: --eps must be a non-negative number or fraction, got '${String(f.eps)}'`);
      if (sweep === 'steps' && eps === undefined)
        throw new UsageError('analyze: attack-curve --sweep steps needs --eps');
      const surrogate =
        f.surrogate === undefined
          ? undefined
          : loadModelFromFlags(f, 'analyze', print, { model: 'surrogate', weights: 'surrogate-weights' });
      const options = {
        seed: seed ?? 0,
        ...(f.space !== undefined && { space: String(f.space) as SpaceName }),
        ...(eps !== undefined && { eps }),
        ...(f.steps !== undefined && { steps: intFlag(f, 'steps', 'analyze') }),
      };
      // --attack and --space are checked by attackCurve at run time, as a JS caller's are.
      return analyses.attackCurve(model, data(), {
        ...common,
        attack: String(f.attack ?? 'pgd') as AttackName,
        sweep,
        values,
        options,
        surrogate,
      });
    }
    default:
      return analyses.erf(model, data(), {
        ...common,
        block: f.block as string | undefined,
        gradient: f.gradient as 'relu' | 'abs' | undefined,
      });
  }
}

/** An analysis result as the files and the line the command writes (also what merge writes). */
export function present(name: string, result: object): Outcome {
  switch (name) {
    case 'occlusion': {
      const r = result as analyses.OcclusionResult;
      return {
        result: r,
        svg: analyses.plotOcclusion(r),
        csv: {
          header: ['ratio', 'accuracy', 'drop', 'patch_fraction'],
          rows: r.points.map((p) => [p.ratio, p.accuracy, p.drop, p.patchFraction]),
        },
        summary: `clean ${pct(r.clean)}%; ${r.points.map((p) => `${p.ratio}: ${pct(p.accuracy)}%`).join(', ')}`,
      };
    }
    case 'frequency': {
      const r = result as analyses.FrequencyNoiseResult;
      return {
        result: r,
        svg: analyses.plotFrequencyNoise(r),
        csv: {
          header: ['lo_pi', 'hi_pi', 'accuracy', 'drop'],
          rows: r.bands.map((b) => [b.lo, b.hi, b.accuracy, b.drop]),
        },
        summary: `clean ${pct(r.clean)}%; ${r.bands.map((b) => `${b.lo}pi: ${pct(b.accuracy)}%`).join(', ')}`,
      };
    }
    case 'fourier-heatmap': {
      const r = result as analyses.FourierHeatmapResult;
      const rows: Row[] = r.frequencies.flatMap((fy, i) => r.frequencies.map((fx, j) => [fy, fx, r.error[i][j]]));
      return {
        result: r,
        svg: analyses.plotFourierHeatmap(r),
        csv: { header: ['fy', 'fx', 'error'], rows },
        summary: `clean ${pct(r.clean)}%; ${rows.length} frequencies`,
      };
    }
    case 'lesion': {
      const r = result as analyses.LesionResult;
      return {
        result: r,
        svg: analyses.plotLesion(r),
        csv: {
          header: ['blocks', 'fraction', 'mean', 'min', 'max'],
          rows: r.points.map((p) => [p.blocks, p.fraction, p.mean, p.min, p.max]),
        },
        summary: `clean ${pct(r.clean)}%; ${r.points.map((p) => `${p.blocks}/${r.totalBlocks}: ${pct(p.mean)}%`).join(', ')}`,
      };
    }
    case 'kernel-distance': {
      const r = result as analyses.KernelDistanceResult;
      const rows: Row[] = r.layers.flatMap((l) =>
        l.distances.map((d, i) => [l.key, i, l.distances.length > 1 ? i / (l.distances.length - 1) : 0, d]),
      );
      return {
        result: r,
        svg: analyses.plotKernelDistance(r),
        csv: { header: ['kernel', 'rank', 'normalized_index', 'distance'], rows },
        summary: r.layers.map((l) => `${l.key}: mean ${l.mean.toFixed(3)}`).join('; '),
      };
    }
    case 'feature-variance': {
      const r = result as analyses.FeatureVarianceResult;
      return {
        result: r,
        svg: analyses.plotFeatureVariance(r),
        csv: {
          header: ['block', 'depth', 'variance', 'relative'],
          rows: r.layers.map((l) => [l.block, l.depth, l.variance, l.relative]),
        },
        summary: `${r.layers.length} blocks; relative variance ${r.layers.map((l) => l.relative.toFixed(3)).join(', ')}`,
      };
    }
    case 'attack-curve': {
      const r = result as analyses.AttackCurveResult;
      return {
        result: r,
        svg: analyses.plotAttackCurve(r),
        csv: {
          header: [r.sweep, 'accuracy', 'drop', 'success_rate', 'mean_linf'],
          rows: r.points.map((p) => [p.value, p.accuracy, p.drop, p.successRate, p.meanLinf]),
        },
        summary: `clean ${pct(r.clean)}%; ${r.points.map((p) => `${r.sweep} ${+p.value.toPrecision(4)}: ${pct(p.accuracy)}%`).join(', ')}`,
      };
    }
    default: {
      const r = result as analyses.ErfResult;
      const rows: Row[] = r.map.map((v, i) => [Math.floor(i / r.width), i % r.width, r.raw[i], v]);
      return {
        result: r,
        svg: analyses.plotErf(r),
        csv: { header: ['row', 'col', 'raw', 'map'], rows },
        summary: `block ${r.block}; area ratios ${r.areaRatios.map((a) => `${a.threshold}: ${a.ratio === null ? 'none' : a.ratio.toFixed(4)}`).join(', ')}`,
      };
    }
  }
}

/** Merges the results of an analysis's shards (SHARDABLE only), in shard order. */
export function mergeAnalysisResults(name: string, results: object[]): object {
  switch (name) {
    case 'occlusion':
      return analyses.mergeOcclusion(results as analyses.OcclusionResult[]);
    case 'frequency':
      return analyses.mergeFrequencyNoise(results as analyses.FrequencyNoiseResult[]);
    case 'fourier-heatmap':
      return analyses.mergeFourierHeatmap(results as analyses.FourierHeatmapResult[]);
    case 'lesion':
      return analyses.mergeLesion(results as analyses.LesionResult[]);
  }
  throw new RangeError(`merge: analysis '${name}' has no shards to merge (shardable: ${SHARDABLE.join(', ')})`);
}

function csvText(csv: Outcome['csv']): string {
  const cell = (v: string | number | null) =>
    v === null ? '' : typeof v === 'number' ? String(v) : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
  return [csv.header.join(','), ...csv.rows.map((r) => r.map(cell).join(','))].join('\n') + '\n';
}

/** What the analysis read: the --input file's SHA-256, or one over the image tree's paths and sizes. */
async function dataSha256(f: Flags): Promise<string> {
  if (f.input !== undefined) return sha256File(String(f.input), 'analyze', '--input');
  const hash = createHash('sha256');
  const walk = (dir: string, rel: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full, `${rel}${e.name}/`);
      else hash.update(`${rel}${e.name}\t${fs.statSync(full).size}\n`);
    }
  };
  walk(String(f.data), '');
  return hash.digest('hex');
}

// Flags that do not change the result (where it goes, how it is shown, which shard).
const PRESENTATION_FLAGS = [
  'out',
  'json',
  'quiet',
  'help',
  'shard',
  'input',
  'data',
  'weights',
  'dino-weights',
  'surrogate-weights',
];

/** Writes an analysis's outputs under `dir`: NAME.json, NAME.csv, NAME.svg, NAME.png (the command's and merge's). */
export async function writeAnalysis(dir: string, name: string, json: string, outcome: Outcome): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), json);
  fs.writeFileSync(path.join(dir, `${name}.csv`), csvText(outcome.csv));
  fs.writeFileSync(path.join(dir, `${name}.svg`), outcome.svg);
  fs.writeFileSync(path.join(dir, `${name}.png`), await svgToPng(outcome.svg));
}

export async function analyzeCommand(argv: string[], print: Print): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help') return print(usage('analyze', SYNOPSIS, FLAGS));
  if (!NAMES.includes(name))
    throw new UsageError(`analyze: unknown analysis '${name}'; choose one of ${NAMES.join(', ')}`);
  const f = parseFlags(rest, FLAGS, 'analyze');
  if (f.help) return print(usage('analyze', SYNOPSIS, FLAGS));
  if (f.out === undefined && f.json === undefined)
    throw new UsageError('analyze: give --out DIR (and/or --json FILE) for the results');
  if (name === 'kernel-distance' && (f.input !== undefined || f.data !== undefined))
    throw new UsageError('analyze: kernel-distance reads only the model (no --input or --data)');
  if ((f.dino === undefined) !== (f['dino-weights'] === undefined))
    throw new UsageError('analyze: --dino and --dino-weights go together');
  const shard = shardFlag(f, 'analyze');
  if (shard && name === 'kernel-distance')
    throw new UsageError('analyze: kernel-distance reads only the weights; it needs no --shard');
  if (shard && !SHARDABLE.includes(name))
    throw new UsageError(
      `analyze: ${name} does not take --shard (its float sums over samples would not merge exactly; shardable: ${SHARDABLE.join(', ')})`,
    );
  if (shard && f.out === undefined)
    throw new UsageError(`analyze: --shard needs --out DIR for ${shardFileName(name, shard)}`);
  const perturbationFlags = ['compare', 'compare-weights', 'labels', 'normalize'].filter((k) => f[k] !== undefined);
  if (name !== 'perturbations' && perturbationFlags.length)
    throw new UsageError(`analyze: --${perturbationFlags[0]} applies to perturbations`);
  if (name === 'perturbations' && f.out === undefined)
    throw new UsageError('analyze: perturbations needs --out DIR for perturbations.png, .html and .json');
  const json = jsonFile(f);
  checkOutputs(
    'analyze',
    ['input', 'weights', 'dino-weights', 'surrogate-weights', 'compare-weights'].map((k) => [
      k,
      f[k] as string | undefined,
    ]),
    [
      ...(f.out !== undefined
        ? [
            {
              flag: 'out',
              path: String(f.out),
              folder: shard
                ? [shardFileName(name, shard)]
                : name === 'perturbations'
                  ? analyses.PERTURBATION_FILES
                  : ['json', 'csv', 'svg', 'png'].map((e) => `${name}.${e}`),
            },
          ]
        : []),
      ...(json !== undefined ? [{ flag: 'json', path: json }] : []),
    ],
  );
  const output = commandOutput(f, print);
  const model = loadModelFromFlags(f, 'analyze', output.say);
  if (name === 'perturbations') return perturbationsCommand(f, model, output);
  const started = Date.now();
  const result = await run(name, f, model, output, shard);
  const meta = {
    analysis: name,
    model: model.modelName ?? String(f.model),
    weights: path.basename(String(f.weights)),
    seconds: (Date.now() - started) / 1000,
  };
  if (shard) {
    const batchSize = intFlag(f, 'batch-size', 'analyze') ?? 32;
    const samples = (result as { samples: number }).samples;
    const flags = Object.fromEntries(
      Object.entries(f)
        .filter(([k]) => !PRESENTATION_FLAGS.includes(k))
        .sort(([a], [b]) => (a < b ? -1 : 1)),
    );
    const count = Math.min(intFlag(f, 'limit', 'analyze') ?? Infinity, (await loadData(f, model)).length);
    const report: ShardReport<object> = {
      format: SHARD_FORMAT,
      kind: `analyze:${name}`,
      shard,
      slice: shardSlice(count, batchSize, shard),
      run: {
        analysis: name,
        model: meta.model,
        weights: meta.weights,
        weightsSha256: await sha256File(String(f.weights), 'analyze', '--weights'),
        dinoWeightsSha256:
          f.dino === undefined ? null : await sha256File(String(f['dino-weights']), 'analyze', '--dino-weights'),
        dataSha256: await dataSha256(f),
        flags,
      },
      seconds: meta.seconds,
      payload: result,
    };
    const file = path.join(String(f.out), shardFileName(name, shard));
    writeShardReport(file, report);
    output.result(report);
    output.say(
      `${name} shard ${shard.index}/${shard.count}: samples ${report.slice.start}-${report.slice.end} of ${count} (${samples} done) -> ${file} ('lkvit merge' joins the shards)`,
    );
    return;
  }
  await finishAnalysis(name, meta, result, f.out === undefined ? undefined : String(f.out), output);
}

/** Writes and reports a whole analysis: the command's end, and merge's. */
export async function finishAnalysis(
  name: string,
  meta: Record<string, unknown>,
  result: object,
  out: string | undefined,
  output: CommandOutput,
): Promise<void> {
  const outcome = present(name, result);
  const json = JSON.stringify({ ...meta, result: outcome.result }, null, 2) + '\n';
  if (out !== undefined) await writeAnalysis(out, name, json, outcome);
  output.result({ ...meta, result: outcome.result });
  output.say(
    `${name}: ${outcome.summary} (${Number(meta.seconds).toFixed(1)} s)${out !== undefined ? ` -> ${out}` : ''}`,
  );
}

/** analyze perturbations: --model (and --compare) side by side, as perturbations.png, .html and .json. */
async function perturbationsCommand(f: Flags, model: ImageClassifier, output: CommandOutput): Promise<void> {
  const cmd = 'analyze';
  if ((f.compare === undefined) !== (f['compare-weights'] === undefined))
    throw new UsageError(`${cmd}: --compare and --compare-weights go together`);
  const normalization = choiceFlag(f, 'normalize', analyses.MAP_NORMALIZATIONS, 'minmax', cmd);
  const eps = f.eps === undefined ? undefined : parseFraction(String(f.eps));
  if (eps !== undefined && !(eps > 0))
    throw new UsageError(`${cmd}: --eps must be a positive number or fraction like 8/255, got '${String(f.eps)}'`);
  const space = choiceFlag(f, 'space', ['pixel', 'normalized'] as const, 'pixel', cmd);
  const compare =
    f.compare === undefined
      ? undefined
      : loadModelFromFlags(f, cmd, output.say, { model: 'compare', weights: 'compare-weights' });
  const names = [model.modelName ?? String(f.model), ...(compare ? [compare.modelName ?? String(f.compare)] : [])];
  const labels =
    f.labels === undefined
      ? names
      : String(f.labels)
          .split(',')
          .map((l) => l.trim());
  if (labels.length !== names.length || labels.some((l) => l === '' || l.length > 60))
    throw new UsageError(
      `${cmd}: --labels must give ${names.length} non-empty label(s) of at most 60 characters, comma-separated (one per model), got '${String(f.labels)}'`,
    );
  const started = Date.now();
  const result = await analyses.perturbationViews(
    [{ label: labels[0], model }, ...(compare ? [{ label: labels[1], model: compare }] : [])],
    loadData(f, model),
    {
      samples: intFlag(f, 'limit', cmd) ?? 8,
      steps: intFlag(f, 'steps', cmd),
      batchSize: intFlag(f, 'batch-size', cmd),
      seed: seedFlag(f, cmd),
      space,
      normalization,
      ...(eps !== undefined && { eps }),
    },
  );
  const dir = String(f.out);
  const meta = {
    analysis: 'perturbations',
    models: names,
    weights: [path.basename(String(f.weights)), ...(compare ? [path.basename(String(f['compare-weights']))] : [])],
    seconds: (Date.now() - started) / 1000,
  };
  const files = await analyses.writePerturbationViews(dir, result, meta);
  output.result({ ...meta, files });
  const flips = result.models
    .map(
      (m) =>
        `${m.label}: ${m.advPred.filter((p, i) => p !== m.cleanPred[i]).length}/${result.samples} predictions changed`,
    )
    .join('; ');
  output.say(
    `perturbations: ${result.samples} samples, PGD eps ${+result.eps.toFixed(5)} (${flips}) -> ${path.join(dir, 'perturbations.html')}`,
  );
}
