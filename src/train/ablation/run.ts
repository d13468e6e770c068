// The augmentation ablation of the robust-ViT study as one call: the same model (same initial
// weights, data, schedule and seed) trained once per subset of {CutMix, RandAugment, MixUp, Random
// Erasing}, optionally adversarially, then its clean, PGD and AutoAttack accuracy on held-out data.
//
// Resumable: the folder keeps the run's identity (ablation-run.json), one row per finished
// combination (runs/NAME.json, written last and atomically, beside its trained weights
// runs/NAME.safetensors) and each unfinished one's per-epoch fit checkpoint
// (runs/NAME.checkpoint.safetensors). Calling again skips every finished row and resumes an
// interrupted training from its last finished epoch (fit's checkpoint: bit-identical to a run that
// never stopped); an interrupted evaluation is redone from the trained weights.
// Shardable: `shard` does only its contiguous slice of the combinations and writes a shard report.
import * as fs from 'fs';
import * as path from 'path';
import { createHash } from 'crypto';
import type { LabeledDataset } from '../../io/dataset';
import type { ImageClassifier } from '../../models/classifier';
import { createModel } from '../../models/registry';
import { manualSeed } from '../../nn/init';
import { saveWeights } from '../../nn/serialize';
import { runAttack } from '../../attacks/run';
import { ShardSpec, checkShard, shardUnits, shardFileName } from '../../shard/spec';
import { SHARD_FORMAT, writeShardReport, ShardReport } from '../../shard/report';
import { fit } from '../fit';
import type { NamedAugment } from '../augment';
import { parseAugment } from '../augment';
import { AblationSettings, ablationSettings } from './settings';
import {
  AblationAugment,
  ABLATION_AUGMENTS,
  DEFAULT_ABLATION_SPECS,
  checkCombinations,
  parseCombination,
  combinationAugment,
} from './combinations';
import { AblationReport, AblationRow, ablationReport, writeAblationReport } from './report';

export const ABLATION_FORMAT = 'lkvit-ablation-1';

export interface AblationModelSpec {
  /** A createModel name (vit_ti16, deit_s16, xcit_s12, replknet31b, ...). */
  name: string;
  /** Its options (architecture, numClasses, mean, std), as createModel takes them. */
  config?: Record<string, unknown>;
}

export interface AblationProgress {
  /** 'train cutmix+mixup', 'pgd none', ... */
  phase: string;
  done: number;
  total: number;
}

export interface AugmentAblationOptions {
  /** The folder for the run's state and its report (created). Required: it is what makes the run resumable. */
  out: string;
  /** Training and held-out data; default the demo's MNIST digits (split by `seed`). */
  data?: { train: LabeledDataset; test: LabeledDataset };
  /** Default: a small ViT for the 32x32 digits (8x8 patches, width 64, depth 4, 4 heads). */
  model?: AblationModelSpec;
  /** Fewer samples, epochs and attack iterations: all 16 runs in a few minutes on the digits. */
  quick?: boolean;
  /** Changes to the default (or quick) settings. */
  settings?: Partial<AblationSettings>;
  /** Specs of the four augmentations (default the DeiT recipe's: cutmix-a1, rand-m9-mstd0.5-inc1, mixup-a0.8, erase-p0.25). */
  specs?: Partial<Record<AblationAugment, NamedAugment>>;
  /** Only these combinations ('none', 'cutmix+mixup', ...; default all 16). */
  combinations?: string[];
  /** Initial weights, data split, shuffling, augmentation and attack draws. Default 0. */
  seed?: number;
  /** Only this shard's contiguous slice of the combinations; writes ablation.shard-I-of-N.json for `lkvit merge`. */
  shard?: ShardSpec;
  onProgress?: (p: AblationProgress) => void;
  log?: (line: string) => void;
  /** Checked between training steps and between phases; the call then rejects with an AbortError. */
  signal?: { readonly aborted: boolean };
}

export interface AugmentAblationResult {
  /** The whole ablation (without `shard`) or the shard's rows. */
  report: AblationReport;
  /** Combinations whose finished row was found in the folder and reused. */
  skipped: number;
  /** Combinations trained (or resumed) and evaluated by this call. */
  trained: number;
  /** Files written into `out` (relative names). */
  files: string[];
}

/** Everything a row depends on: a folder resumes, and shards merge, only under the same identity. */
export interface AblationRun {
  format: typeof ABLATION_FORMAT;
  model: AblationModelSpec;
  settings: AblationSettings;
  specs: Record<AblationAugment, NamedAugment>;
  combinations: string[];
  seed: number;
  /** SHA-256 of the training and held-out prefixes the run uses (pixels and labels). */
  data: { source: string; trainSha256: string; testSha256: string; classes: number };
}

const KNOWN = [
  'out',
  'data',
  'model',
  'quick',
  'settings',
  'specs',
  'combinations',
  'seed',
  'shard',
  'onProgress',
  'log',
  'signal',
];
const FN = 'runAugmentAblation';

/** The default model: the demo's ViT for the digits. */
export function defaultAblationModel(): AblationModelSpec {
  return {
    name: 'vit_ti16',
    config: {
      imageSize: 32,
      patchSize: 8,
      embedDim: 64,
      depth: 4,
      numHeads: 4,
      mlpRatio: 2,
      numClasses: 10,
      mean: [0.1307, 0.1307, 0.1307],
      std: [0.3081, 0.3081, 0.3081],
    },
  };
}

function checkOptions(options: unknown): AugmentAblationOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`${FN}: options must be an object with at least { out }`);
  const unknown = Object.keys(options).filter((k) => !KNOWN.includes(k));
  if (unknown.length)
    throw new RangeError(`${FN}: unknown option(s) ${unknown.join(', ')}; it takes ${KNOWN.join(', ')}`);
  const o = options as AugmentAblationOptions;
  if (typeof o.out !== 'string' || o.out === '')
    throw new TypeError(`${FN}: out must be a folder path (it keeps the run's state), got ${typeof o.out}`);
  if (o.quick !== undefined && typeof o.quick !== 'boolean')
    throw new TypeError(`${FN}: quick must be a boolean, got ${typeof o.quick}`);
  if (o.seed !== undefined && !(Number.isInteger(o.seed) && o.seed >= 0 && o.seed <= 0xffffffff))
    throw new RangeError(`${FN}: seed must be an integer in [0, 2^32), got ${String(o.seed)}`);
  if (o.data !== undefined) {
    const d = o.data as Record<string, unknown>;
    const isDataset = (v: unknown) =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as LabeledDataset).load === 'function' &&
      Number.isInteger((v as LabeledDataset).length);
    if (typeof d !== 'object' || d === null || !isDataset(d.train) || !isDataset(d.test))
      throw new TypeError(`${FN}: data must be { train, test }, two LabeledDatasets (lk.tensorDataset)`);
  }
  if (
    o.model !== undefined &&
    (typeof o.model !== 'object' ||
      o.model === null ||
      typeof o.model.name !== 'string' ||
      (o.model.config !== undefined && (typeof o.model.config !== 'object' || o.model.config === null)))
  )
    throw new TypeError(`${FN}: model must be { name, config? } (a createModel name and its options)`);
  if (o.specs !== undefined) {
    if (typeof o.specs !== 'object' || o.specs === null)
      throw new TypeError(`${FN}: specs must be an object { cutmix, randaugment, mixup, erase }`);
    const bad = Object.keys(o.specs).filter((k) => !(ABLATION_AUGMENTS as readonly string[]).includes(k));
    if (bad.length)
      throw new RangeError(
        `${FN}: specs has unknown key(s) ${bad.join(', ')}; it takes ${ABLATION_AUGMENTS.join(', ')}`,
      );
  }
  for (const k of ['onProgress', 'log'] as const)
    if (o[k] !== undefined && typeof o[k] !== 'function')
      throw new TypeError(`${FN}: ${k} must be a function, got ${typeof o[k]}`);
  if (o.signal !== undefined && (typeof o.signal !== 'object' || o.signal === null || !('aborted' in o.signal)))
    throw new TypeError(`${FN}: signal must be an AbortSignal (or any { aborted: boolean })`);
  return o;
}

/** The first `count` samples of a dataset. */
function prefix(ds: LabeledDataset, count: number): LabeledDataset {
  return count >= ds.length ? ds : { length: count, load: (a, b) => ds.load(a, b), id: (i) => ds.id(i) };
}

async function datasetSha256(ds: LabeledDataset): Promise<string> {
  const hash = createHash('sha256');
  for (let start = 0; start < ds.length; start += 256) {
    const b = await ds.load(start, Math.min(ds.length, start + 256));
    hash.update(JSON.stringify(b.x.shape));
    hash.update(new Uint8Array(b.x.data.buffer, b.x.data.byteOffset, b.x.data.byteLength));
    hash.update(new Uint8Array(Int32Array.from(b.y).buffer));
  }
  return hash.digest('hex');
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** A file name for a combination's state ('+' is fine in file names everywhere we run). */
const runFile = (dir: string, name: string, ext: string) => path.join(dir, 'runs', `${name}.${ext}`);

/** A finished row of this run in the folder, or null (missing, unreadable, or of another run). */
function finishedRow(dir: string, name: string, runId: string): AblationRow | null {
  try {
    const saved = JSON.parse(fs.readFileSync(runFile(dir, name, 'json'), 'utf8')) as {
      runId?: string;
      row?: AblationRow;
    };
    return saved.runId === runId && saved.row?.name === name ? saved.row : null;
  } catch {
    return null;
  }
}

/** The identity the folder already holds must be this run's (or the folder is new). */
function claimFolder(dir: string, run: AblationRun): void {
  fs.mkdirSync(path.join(dir, 'runs'), { recursive: true });
  const file = path.join(dir, 'ablation-run.json');
  const text = JSON.stringify(run, null, 2) + '\n';
  if (fs.existsSync(file)) {
    let held: Record<string, unknown> | null = null;
    try {
      held = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      held = null;
    }
    const same = (k: string) =>
      JSON.stringify(held?.[k]) === JSON.stringify((run as unknown as Record<string, unknown>)[k]);
    // Shards of one run name the same combinations: only the rest must match.
    const differs = ['format', 'model', 'settings', 'specs', 'seed', 'data'].find((k) => !same(k));
    if (differs)
      throw new RangeError(
        `${FN}: the folder '${dir}' holds an ablation run with a different ${differs}; give another out folder (or delete it to start afresh)`,
      );
  }
  writeAtomically(file, text);
}

export async function runAugmentAblation(options: AugmentAblationOptions): Promise<AugmentAblationResult> {
  const o = checkOptions(options);
  const settings = ablationSettings(FN, o.quick ?? false, o.settings ?? {});
  const combinations = checkCombinations(FN, o.combinations);
  const shard = checkShard(FN, o.shard);
  const seed = o.seed ?? 0;
  const specs = { ...DEFAULT_ABLATION_SPECS, ...(o.specs ?? {}) } as Record<AblationAugment, NamedAugment>;
  // Every spec is checked now, not after hours of the first runs.
  for (const a of ABLATION_AUGMENTS) parseAugment(`${FN}: specs.${a}`, specs[a]);
  const modelSpec: AblationModelSpec = o.model
    ? { name: o.model.name, ...(o.model.config && { config: o.model.config }) }
    : defaultAblationModel();
  const log = o.log ?? (() => {});
  const abort = () => {
    if (o.signal?.aborted)
      throw Object.assign(new Error(`${FN}: aborted (call it again with the same out folder to resume)`), {
        name: 'AbortError',
      });
  };
  const build = (): ImageClassifier => {
    manualSeed(seed);
    return createModel(modelSpec.name, (modelSpec.config ?? {}) as never);
  };
  const probe = build();
  const classes = probe.numClasses;

  let data = o.data;
  let source = 'caller';
  if (!data) {
    // The demo's digits (layering: the ablation reuses its data, not its models).
    const { mnistSplit } = await import('../../demo/mnist');
    data = mnistSplit({ seed });
    source = `mnist digits (demo split, seed ${seed})`;
  }
  const train = prefix(data.train, settings.trainSamples),
    test = prefix(data.test, settings.testSamples);
  if (train.length < settings.batchSize)
    throw new RangeError(
      `${FN}: settings.batchSize ${settings.batchSize} exceeds the ${train.length} training samples`,
    );
  const run: AblationRun = {
    format: ABLATION_FORMAT,
    model: modelSpec,
    settings,
    specs,
    combinations,
    seed,
    data: { source, trainSha256: await datasetSha256(train), testSha256: await datasetSha256(test), classes },
  };
  // A row depends on everything but the list of combinations (a shard names the same list; a subset run reuses rows).
  const runId = createHash('sha256')
    .update(JSON.stringify({ ...run, combinations: null }))
    .digest('hex');
  const dir = o.out;
  claimFolder(dir, run);

  const [a, b] = shard ? shardUnits(combinations.length, shard) : [0, combinations.length];
  const mine = combinations.slice(a, b);
  const rows: AblationRow[] = [];
  let skipped = 0,
    trained = 0;
  const started = Date.now();
  for (const [i, name] of mine.entries()) {
    abort();
    const done = finishedRow(dir, name, runId);
    if (done) {
      rows.push(done);
      skipped++;
      log(`${name}: finished earlier, reused (${i + 1}/${mine.length})`);
      continue;
    }
    rows.push(
      await trainAndEvaluate(name, parseCombination(FN, name), { settings, specs, seed, build, train, test, dir, o }),
    );
    const row = rows[rows.length - 1];
    writeAtomically(runFile(dir, name, 'json'), JSON.stringify({ runId, row }, null, 2) + '\n');
    fs.rmSync(runFile(dir, name, 'checkpoint.safetensors'), { force: true });
    trained++;
    log(
      `${name}: clean ${pct(row.cleanAccuracy)}%, PGD ${pct(row.pgdAccuracy)}%, AutoAttack ${pct(row.autoattackAccuracy)}% ` +
        `(trained ${row.trainSeconds.toFixed(1)} s, attacked ${row.evalSeconds.toFixed(1)} s; ${i + 1}/${mine.length})`,
    );
  }
  const seconds = (Date.now() - started) / 1000;
  const report = ablationReport(run, rows, seconds);
  if (shard) {
    const file = shardFileName('ablation', shard);
    const shardReport: ShardReport<{ rows: AblationRow[] }> = {
      format: SHARD_FORMAT,
      kind: 'ablation',
      shard,
      slice: { start: a, end: b, total: combinations.length },
      run: run as unknown as Record<string, unknown>,
      seconds,
      payload: { rows },
    };
    writeShardReport(path.join(dir, file), shardReport);
    return { report, skipped, trained, files: [file] };
  }
  const files = await writeAblationReport(dir, report);
  return { report, skipped, trained, files };
}

const pct = (v: number) => (100 * v).toFixed(1);

interface RunContext {
  settings: AblationSettings;
  specs: Record<AblationAugment, NamedAugment>;
  seed: number;
  build: () => ImageClassifier;
  train: LabeledDataset;
  test: LabeledDataset;
  dir: string;
  o: AugmentAblationOptions;
}

/** One combination: trained from the shared initial weights (resuming its checkpoint), then attacked. */
async function trainAndEvaluate(name: string, members: AblationAugment[], c: RunContext): Promise<AblationRow> {
  const { settings: s, seed, o } = c;
  const progress = (phase: string) => (done: number, total: number) =>
    o.onProgress?.({ phase: `${phase} ${name}`, done, total });
  const model = c.build();
  const augment = combinationAugment(members, c.specs);
  const t0 = Date.now();
  const onTrain = progress('train');
  const { history } = await fit(model, c.train, {
    epochs: s.epochs,
    batchSize: s.batchSize,
    optimizer: { type: 'adamw', lr: s.lr, weightDecay: s.weightDecay },
    warmupEpochs: s.warmupEpochs,
    labelSmoothing: s.labelSmoothing,
    seed,
    ...(augment && { augment }),
    ...(s.adversarial !== 'none' && {
      adversarial: { method: s.adversarial, eps: s.eps, steps: s.trainAttackSteps, warmupEpochs: s.epsWarmupEpochs },
    }),
    checkpoint: runFile(c.dir, name, 'checkpoint.safetensors'),
    resume: true,
    signal: o.signal,
    onStep: (st) => onTrain((st.epoch - 1) * st.stepsPerEpoch + st.step, s.epochs * st.stepsPerEpoch),
  });
  const trainSeconds = (Date.now() - t0) / 1000;
  // The trained weights stay in the folder (lk.loadModel reads them; lkvit analyze perturbations compares them).
  saveWeights(model, runFile(c.dir, name, 'safetensors'), { ablation: name });
  model.eval();
  model.setRequiresGrad(false);
  const t1 = Date.now();
  const common = { batchSize: s.evalBatchSize, keepAdversarial: false, signal: o.signal };
  const pgd = await runAttack(model, c.test, {
    ...common,
    attack: 'pgd',
    options: { eps: s.eps, steps: s.pgdSteps, seed },
    onProgress: progress('pgd'),
  });
  const aa = await runAttack(model, c.test, {
    ...common,
    attack: 'autoattack',
    options: { eps: s.eps, steps: s.autoattackSteps, queries: s.autoattackQueries, seed },
    onProgress: progress('autoattack'),
  });
  // Robust means correct before and after the attack (AutoAttack's count), so robust <= clean.
  const count = (r: typeof pgd) => r.y.reduce((n, y, i) => n + +(r.cleanPred[i] === y && r.advPred[i] === y), 0);
  const samples = c.test.length;
  const cleanCorrect = pgd.cleanPred.reduce((n, p, i) => n + +(p === pgd.y[i]), 0);
  const pgdCorrect = count(pgd),
    autoattackCorrect = count(aa);
  return {
    name,
    augments: members,
    samples,
    cleanCorrect,
    pgdCorrect,
    autoattackCorrect,
    cleanAccuracy: cleanCorrect / samples,
    pgdAccuracy: pgdCorrect / samples,
    autoattackAccuracy: autoattackCorrect / samples,
    trainLoss: history.map((h) => h.trainLoss),
    trainSeconds,
    evalSeconds: (Date.now() - t1) / 1000,
  };
}
