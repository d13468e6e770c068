// evaluateSuite: runs a model over one of the robustness suites, batch by batch, recording each sample's
// result in the resume state, and turns all results into the suite's report.
import { Device } from '../tensor/device';
import { withDevice } from '../models/device';
import * as path from 'path';
import { createHash } from 'crypto';
import { Tensor } from '../tensor/tensor';
import { checkOneOf } from '../tensor/check';
import { ImageClassifier } from '../models/classifier';
import { Classifier, predictLogits, inBatch } from '../models/evaluate';
import { loadImageBatch } from '../io/image';
import { loadReadableImages, SkippedImage } from '../io/dataset';
import { IMAGENET_WNIDS, IMAGENET_A_WNIDS, IMAGENET_R_WNIDS, IMAGENET_O_WNIDS } from './classes';
import {
  Subset,
  Sample,
  checkFolder,
  classFolderSubset,
  corruptionSubsets,
  backgroundSubsets,
  perturbationSubsets,
  parsePerturbation,
} from './layouts';
import {
  SuiteKind,
  SuiteBaseline,
  SummaryOptions,
  Evaluated,
  IMAGENET_VAL,
  IMAGENET_A,
  IMAGENET_R,
  IMAGENET_O,
  IMAGENET_C,
  IMAGENET_P,
  IMAGENET_9,
  O_SUBSET,
  IN_DISTRIBUTION_SUBSET,
} from './summaries';
import { ResumeState, SuiteReport, SampleResult, writeReport, STATE_FILE } from './report';
import { sha256File } from '../io/hash';
import { ShardSpec, checkShard, shardUnits, shardFileName } from '../shard/spec';
import { ShardReport, SHARD_FORMAT, mergeable, writeShardReport } from '../shard/report';
import { PayloadChecker } from '../shard/payload';

export const SUITES: readonly string[] = Object.freeze([
  'imagenet',
  'imagenet-a',
  'imagenet-r',
  'imagenet-o',
  'imagenet-c',
  'imagenet-p',
  'imagenet-9',
] as const);
export type SuiteName =
  'imagenet' | 'imagenet-a' | 'imagenet-r' | 'imagenet-o' | 'imagenet-c' | 'imagenet-p' | 'imagenet-9';

/** Every suite's options in one record (what the code reads; callers use SuiteOptions). */
export interface SuiteOptionsAll {
  suite: SuiteName;
  /** The dataset's root folder, in its published layout. */
  data: string;
  /** imagenet-o: the ImageNet val folder (root/WNID/*.JPEG) whose 200 ImageNet-O classes are in-distribution. */
  inDistribution?: string;
  /** Images per forward pass (default 32). */
  batchSize?: number;
  /** 'cpu' or 'cuda': the model moves there for the run and back afterwards. Default: where it is. */
  device?: Device;
  /** imagenet-c: the severity of the mean top-1 figure (default 5). */
  severity?: number;
  /** imagenet-p: strides of the non-noise perturbations (default [1, 2, 3]). */
  difficulties?: number[];
  /** imagenet-c: normalising errors (default AlexNet's); imagenet-p: baseline flip probability / top-5 distance. */
  baseline?: SuiteBaseline;
  /** Folder for report.json, report.csv and the resume state; without it nothing is written or resumed. */
  out?: string;
  /** Only the first n samples of each subset (quick runs). */
  limit?: number;
  /** Centre-crop side (default the model's input size, else 224); photos are first resized to crop / 0.875. */
  crop?: number;
  /** Shorter side before the crop for the photo suites (imagenet, -a, -r, -o). */
  resize?: number;
  /** For the report; `weightsPath` is hashed (SHA-256). */
  modelName?: string;
  weightsPath?: string;
  onProgress?: (done: number, total: number) => void;
  /** Leave out a sample whose image cannot be read or decoded (reported through onSkip and counted
   * in the report's `skipped`) instead of failing the run (default false: the first such file throws). */
  skipUnreadable?: boolean;
  /** Called for each image file left out under skipUnreadable. */
  onSkip?: (skipped: SkippedImage) => void;
  /** Stops between batches (the state keeps what was done; rerun to resume). */
  signal?: AbortSignal;
}

type SuiteCommonOptions = Omit<SuiteOptionsAll, 'suite' | 'inDistribution' | 'severity' | 'difficulties' | 'baseline'>;

/** evaluateSuite's options, by suite: each suite takes only its own (imagenet-o needs inDistribution,
 * only imagenet-c has a severity, only imagenet-p difficulties), so a misspelt suite or option fails to compile. */
export type SuiteOptions =
  | (SuiteCommonOptions & { suite: 'imagenet' | 'imagenet-a' | 'imagenet-r' | 'imagenet-9' })
  | (SuiteCommonOptions & { suite: 'imagenet-o'; inDistribution: string })
  | (SuiteCommonOptions & { suite: 'imagenet-c'; severity?: number; baseline?: SuiteBaseline })
  | (SuiteCommonOptions & { suite: 'imagenet-p'; difficulties?: number[]; baseline?: SuiteBaseline });

/** evaluateSuiteShard's options: the suite's, and which shard (slices are whole batches of the single run). */
export type SuiteShardOptions = SuiteOptions & {
  shard: ShardSpec;
};

/** What a suite shard keeps: each sample of its slice (subset index, id, class folder) and its record. */
export interface SuiteShardPayload {
  samples: [number, string, string][];
  results: SampleResult[];
}

const KINDS: Record<SuiteName, SuiteKind> = {
  imagenet: IMAGENET_VAL,
  'imagenet-a': IMAGENET_A,
  'imagenet-r': IMAGENET_R,
  'imagenet-o': IMAGENET_O,
  'imagenet-c': IMAGENET_C,
  'imagenet-p': IMAGENET_P,
  'imagenet-9': IMAGENET_9,
};

const KNOWN_OPTIONS = [
  'suite',
  'data',
  'inDistribution',
  'batchSize',
  'severity',
  'difficulties',
  'baseline',
  'out',
  'limit',
  'crop',
  'resize',
  'modelName',
  'weightsPath',
  'onProgress',
  'signal',
  'shard',
  'skipUnreadable',
  'onSkip',
  'device',
];

function subsetsOf(suite: SuiteName, data: string, inDistribution: string | undefined): Subset[] {
  switch (suite as SuiteName) {
    case 'imagenet':
      return [classFolderSubset('val', data, IMAGENET_WNIDS)];
    case 'imagenet-a':
      return [classFolderSubset('imagenet-a', data, IMAGENET_A_WNIDS)];
    case 'imagenet-r':
      return [classFolderSubset('imagenet-r', data, IMAGENET_R_WNIDS)];
    case 'imagenet-o': {
      if (inDistribution === undefined)
        throw new RangeError(
          'evaluateSuite: imagenet-o needs inDistribution, the ImageNet val folder (root/WNID/*.JPEG)',
        );
      const inDist = checkFolder('inDistribution', inDistribution);
      const inDistSubset = classFolderSubset(IN_DISTRIBUTION_SUBSET, inDist, IMAGENET_O_WNIDS);
      // Ids are relative to each subset's own root: prefix them so the two never collide.
      inDistSubset.samples.forEach((s) => (s.id = `${IN_DISTRIBUTION_SUBSET}/${s.id}`));
      return [classFolderSubset(O_SUBSET, data, IMAGENET_O_WNIDS), inDistSubset];
    }
    case 'imagenet-c':
      return corruptionSubsets(data);
    case 'imagenet-p':
      return perturbationSubsets(data);
    case 'imagenet-9':
      return backgroundSubsets(data);
  }
  throw new RangeError(`evaluateSuite: unknown suite '${String(suite)}'`);
}

function positiveInt(name: string, v: unknown, fallback: number | undefined, max = Infinity): number | undefined {
  if (v === undefined) return fallback;
  if (typeof v !== 'number') throw new TypeError(`evaluateSuite: ${name} must be an integer, got ${typeof v}`);
  if (!Number.isInteger(v) || v < 1 || v > max)
    throw new RangeError(`evaluateSuite: ${name} must be an integer in [1, ${max}], got ${v}`);
  return v;
}

function checkBaseline(suite: SuiteName, baseline: unknown, subsets: Subset[]): SuiteBaseline {
  if (baseline === undefined) return {};
  if (baseline === null || typeof baseline !== 'object' || Array.isArray(baseline))
    throw new TypeError(
      'evaluateSuite: baseline must be an object like { errors: {...} } or { flipProbability: {...}, top5Distance: {...} }',
    );
  const b = baseline as Record<string, unknown>;
  // The tables a suite takes, and the names each must cover.
  const perturbations = [...new Set(subsets.map((s) => parsePerturbation(s.name).perturbation))];
  const needed: Record<string, string[]> =
    suite === 'imagenet-c'
      ? { errors: [] }
      : suite === 'imagenet-p'
        ? { flipProbability: perturbations, top5Distance: perturbations }
        : {};
  if (Object.keys(needed).length === 0)
    throw new RangeError(`evaluateSuite: baseline applies to imagenet-c and imagenet-p, not ${suite}`);
  for (const key of Object.keys(b)) {
    if (!(key in needed))
      throw new RangeError(
        `evaluateSuite: baseline.${key} does not apply to ${suite} (expected ${Object.keys(needed).join(' or ')})`,
      );
    const table = b[key];
    if (table === null || typeof table !== 'object' || Array.isArray(table))
      throw new TypeError(`evaluateSuite: baseline.${key} must map names to numbers`);
    for (const [name, v] of Object.entries(table))
      if (typeof v !== 'number' || !(v > 0))
        throw new RangeError(`evaluateSuite: baseline.${key}.${name} must be a number > 0, got ${String(v)}`);
    for (const name of needed[key])
      if (!(name in table)) throw new RangeError(`evaluateSuite: baseline.${key} has no value for '${name}'`);
  }
  return b as SuiteBaseline;
}

/** Consecutive samples whose files make at most batchSize images (at least one sample each). */
function* sampleBatches(samples: Sample[], batchSize: number): Generator<Sample[]> {
  let batch: Sample[] = [],
    images = 0;
  for (const s of samples) {
    if (batch.length && images + s.files.length > batchSize) {
      yield batch;
      batch = [];
      images = 0;
    }
    batch.push(s);
    images += s.files.length;
  }
  if (batch.length) yield batch;
}

/** Everything a run is, checked: what it reads, how, and what its report records. */
interface SuitePlan {
  kind: SuiteKind;
  subsets: Subset[];
  transform: { resize: number | null; crop: number };
  batchSize: number;
  /** What the per-sample results depend on (the resume state's header). */
  header: Record<string, unknown>;
  /** The report's fields other than summary, figures and samples. */
  identity: Pick<SuiteReport, 'suite' | 'model' | 'settings'>;
  summaryOptions: SummaryOptions;
}

async function planSuite(model: Classifier, options: SuiteOptionsAll): Promise<SuitePlan> {
  if (!(model instanceof ImageClassifier) && typeof model !== 'function')
    throw new TypeError('evaluateSuite: model must be an ImageClassifier or a function from x [N, 3, H, W] to logits');
  if (options === null || typeof options !== 'object') throw new TypeError('evaluateSuite: options must be an object');
  for (const key of Object.keys(options))
    if (!KNOWN_OPTIONS.includes(key))
      throw new TypeError(`evaluateSuite: unknown option '${key}' (expected one of ${KNOWN_OPTIONS.join(', ')})`);
  const suite = options.suite;
  checkOneOf('evaluateSuite', 'suite', suite, SUITES);
  const data = checkFolder('data', options.data);
  const batchSize = positiveInt('batchSize', options.batchSize, 32)!;
  const severity = positiveInt('severity', options.severity, 5, 5)!;
  const limit = positiveInt('limit', options.limit, undefined);
  const crop = positiveInt('crop', options.crop, (model instanceof ImageClassifier && model.imageSize) || 224)!;
  const resize = positiveInt('resize', options.resize, Math.floor(crop / 0.875))!;
  const difficulties = options.difficulties ?? [1, 2, 3];
  if (
    !Array.isArray(difficulties) ||
    difficulties.length === 0 ||
    !difficulties.every((d) => Number.isInteger(d) && d >= 1 && d <= 3)
  )
    throw new RangeError(
      `evaluateSuite: difficulties must be a non-empty array of 1, 2, 3, got ${JSON.stringify(difficulties)}`,
    );
  for (const name of ['out', 'modelName', 'weightsPath'] as const)
    if (options[name] !== undefined && typeof options[name] !== 'string')
      throw new TypeError(`evaluateSuite: ${name} must be a string`);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
    throw new TypeError('evaluateSuite: onProgress must be a function');
  if (options.onSkip !== undefined && typeof options.onSkip !== 'function')
    throw new TypeError('evaluateSuite: onSkip must be a function');
  if (options.skipUnreadable !== undefined && typeof options.skipUnreadable !== 'boolean')
    throw new TypeError('evaluateSuite: skipUnreadable must be a boolean');

  const kind = KINDS[suite];
  const subsets = subsetsOf(suite, data, options.inDistribution).map((s) => ({
    ...s,
    samples: s.samples.slice(0, limit),
  }));
  const baseline = checkBaseline(suite, options.baseline, subsets);
  const transform = kind.transform === 'eval' ? { resize, crop } : { resize: null, crop };
  const weightsSha256 =
    options.weightsPath !== undefined ? await sha256File(options.weightsPath, 'evaluateSuite', 'weightsPath') : null;
  const modelInfo = { name: options.modelName ?? null, weightsSha256 };
  const header = {
    suite,
    data: path.resolve(data),
    inDistribution: options.inDistribution ? path.resolve(options.inDistribution) : null,
    transform,
    model: modelInfo,
  };
  const settings = {
    data: header.data,
    inDistribution: header.inDistribution,
    crop,
    resize: transform.resize,
    batchSize,
    limit: limit ?? null,
    ...(suite === 'imagenet-c' && { severity }),
    ...(suite === 'imagenet-p' && { difficulties }),
    ...(options.baseline !== undefined && { baseline }),
  };
  return {
    kind,
    subsets,
    transform,
    batchSize,
    header,
    identity: { suite, model: modelInfo, settings },
    summaryOptions: { severity, difficulties, baseline },
  };
}

/** Evaluates `todo` (samples of `plan`'s subsets, in batches as sampleBatches cuts them) into `state`. */
async function evaluateSamples(
  model: Classifier,
  plan: SuitePlan,
  batches: { subset: Subset; samples: Sample[] }[],
  state: ResumeState,
  progress: { done: number; total: number },
  options: SuiteOptionsAll,
): Promise<void> {
  options.onProgress?.(progress.done, progress.total);
  let batch = 0;
  for (const { subset, samples } of batches) {
    if (options.signal?.aborted)
      throw Object.assign(new Error('evaluateSuite: aborted; run again with the same out to resume'), {
        name: 'AbortError',
      });
    const loaded = options.skipUnreadable
      ? await loadReadableImages(
          samples.map((s) => s.files),
          plan.transform,
          options.onSkip,
        )
      : {
          ...(await loadImageBatch(
            samples.flatMap((s) => s.files),
            plan.transform,
          )),
          kept: samples.map((_, i) => i),
          skipped: [],
        };
    // A sample left out is recorded as such: resuming does not retry it, and the report counts it.
    const keptSet = new Set(loaded.kept);
    const left = samples.filter((_, i) => !keptSet.has(i));
    state.add(
      left.map((s) => s.id),
      left.map((s) => ({
        skipped: (loaded.skipped.find((k) => s.files.includes(k.file))?.reason ?? 'unreadable').slice(0, 500),
      })),
    );
    const kept = loaded.kept.map((i) => samples[i]);
    if (kept.length === 0) {
      batch++;
      progress.done += samples.length;
      options.onProgress?.(progress.done, progress.total);
      continue;
    }
    const images = loaded;
    const logits = inBatch('evaluateSuite', batch++, progress.done, progress.done + samples.length, () =>
      predictLogits(model, new Tensor(images.data, images.shape), plan.batchSize),
    );
    const K = logits.shape[1];
    if (K !== IMAGENET_WNIDS.length)
      throw new RangeError(`evaluateSuite: the suites need ImageNet-1k logits (1000 classes), the model gives ${K}`);
    const rows = (i: number) => logits.data.subarray(i * K, (i + 1) * K);
    let at = 0;
    const results: SampleResult[] = kept.map((s) => {
      const sampleRows = s.files.map((_, j) => rows(at + j));
      at += s.files.length;
      return plan.kind.record(sampleRows, s, subset);
    });
    state.add(
      kept.map((s) => s.id),
      results,
    );
    progress.done += samples.length;
    options.onProgress?.(progress.done, progress.total);
  }
}

/** The samples left to do, batched. */
function pendingBatches(
  subsets: Subset[],
  state: ResumeState,
  batchSize: number,
): { subset: Subset; samples: Sample[] }[] {
  return subsets.flatMap((subset) =>
    [
      ...sampleBatches(
        subset.samples.filter((s) => state.get(s.id) === undefined),
        batchSize,
      ),
    ].map((samples) => ({ subset, samples })),
  );
}

/** The report from every sample's record: one function for single runs and merged shards. */
function suiteReport(
  kind: SuiteKind,
  identity: SuitePlan['identity'],
  summaryOptions: SummaryOptions,
  evaluated: Evaluated[],
): SuiteReport {
  // Samples left out as unreadable (skipUnreadable) count in `skipped`, not in any figure.
  const skipped: string[] = [];
  const readable = evaluated.map(({ subset, results }) => {
    const keep = results.map((r) => r.skipped === undefined);
    subset.samples.forEach((s, i) => keep[i] || skipped.push(s.id));
    return {
      subset: { ...subset, samples: subset.samples.filter((_, i) => keep[i]) },
      results: results.filter((_, i) => keep[i]),
    };
  });
  const { summary, figures } = kind.summarize(readable, summaryOptions);
  return {
    ...identity,
    summary,
    figures,
    samples: readable.reduce((n, e) => n + e.results.length, 0),
    ...(skipped.length > 0 && { skipped: { count: skipped.length, samples: skipped.slice(0, MAX_SKIPPED_LISTED) } }),
  };
}

/** How many skipped samples a report names (it counts them all). */
const MAX_SKIPPED_LISTED = 100;

/** Runs `model` over a suite and returns (and, with `out`, writes) its report; resumes from `out`'s state. */
export async function evaluateSuite(model: Classifier, options: SuiteOptions): Promise<SuiteReport> {
  return withDevice('evaluateSuite', options?.device, [model], () => evaluateSuiteHere(model, options));
}

async function evaluateSuiteHere(model: Classifier, options: SuiteOptions): Promise<SuiteReport> {
  if ((options as Partial<SuiteShardOptions>)?.shard !== undefined)
    throw new TypeError(
      'evaluateSuite: for a shard call evaluateSuiteShard (it returns a shard report for mergeSuiteShards)',
    );
  const plan = await planSuite(model, options);
  const state = ResumeState.open(options.out ?? null, plan.header);
  const total = plan.subsets.reduce((n, s) => n + s.samples.length, 0);
  const done = plan.subsets.reduce((n, s) => n + s.samples.filter((x) => state.get(x.id) !== undefined).length, 0);
  await evaluateSamples(
    model,
    plan,
    pendingBatches(plan.subsets, state, plan.batchSize),
    state,
    { done, total },
    options,
  );
  const evaluated: Evaluated[] = plan.subsets.map((subset) => ({
    subset,
    results: subset.samples.map((s) => state.get(s.id)!),
  }));
  const report = suiteReport(plan.kind, plan.identity, plan.summaryOptions, evaluated);
  if (options.out !== undefined) writeReport(options.out, report);
  return report;
}

/**
 * One shard of a suite run: the batches of the single run from shardUnits(batches, shard), resumable
 * from `out` (state.shard-I-of-N.jsonl); returns its shard report, also written as
 * out/eval.shard-I-of-N.json. mergeSuiteShards turns all n into the single run's report.
 */
export async function evaluateSuiteShard(
  model: Classifier,
  options: SuiteShardOptions,
): Promise<ShardReport<SuiteShardPayload>> {
  return withDevice('evaluateSuiteShard', options?.device, [model], () => evaluateSuiteShardHere(model, options));
}

async function evaluateSuiteShardHere(
  model: Classifier,
  options: SuiteShardOptions,
): Promise<ShardReport<SuiteShardPayload>> {
  const t0 = performance.now();
  const shard = checkShard('evaluateSuiteShard', options?.shard, 'options.shard');
  if (!shard) throw new TypeError('evaluateSuiteShard: options.shard ({ index, count }) is required');
  const plan = await planSuite(model, options);
  // The single run's batches, in order; the shard takes a contiguous run of them.
  const all = plan.subsets.flatMap((subset) =>
    [...sampleBatches(subset.samples, plan.batchSize)].map((samples) => ({ subset, samples })),
  );
  const [a, b] = shardUnits(all.length, shard);
  const mine = all.slice(a, b);
  const before = all.slice(0, a).reduce((n, x) => n + x.samples.length, 0);
  const count = mine.reduce((n, x) => n + x.samples.length, 0);
  const total = plan.subsets.reduce((n, s) => n + s.samples.length, 0);
  const stateName = STATE_FILE.replace(/\.jsonl$/, `.shard-${shard.index}-of-${shard.count}.jsonl`);
  const state = ResumeState.open(options.out ?? null, { ...plan.header, shard }, stateName);
  const todo = mine
    .map((x) => ({ subset: x.subset, samples: x.samples.filter((s) => state.get(s.id) === undefined) }))
    .filter((x) => x.samples.length);
  await evaluateSamples(
    model,
    plan,
    todo,
    state,
    { done: count - todo.reduce((n, x) => n + x.samples.length, 0), total: count },
    options,
  );

  const subsetIndex = new Map(plan.subsets.map((s, i) => [s, i]));
  const samples = mine.flatMap((x) =>
    x.samples.map((s) => [subsetIndex.get(x.subset)!, s.id, s.className] as [number, string, string]),
  );
  // Every shard lists the same samples: a hash of the full listing tells runs over different data apart.
  const listing = createHash('sha256');
  for (const subset of plan.subsets)
    for (const s of subset.samples) listing.update(`${subset.name}\t${s.id}\t${s.className}\n`);
  const report: ShardReport<SuiteShardPayload> = {
    format: SHARD_FORMAT,
    kind: 'eval',
    shard,
    slice: { start: before, end: before + count, total },
    run: {
      ...plan.identity,
      header: plan.header,
      summaryOptions: plan.summaryOptions,
      subsets: plan.subsets.map((s) => s.name),
      samplesSha256: listing.digest('hex'),
    },
    seconds: (performance.now() - t0) / 1000,
    payload: { samples, results: samples.map(([, id]) => state.get(id)!) },
  };
  if (options.out !== undefined) writeShardReport(path.join(options.out, shardFileName('eval', shard)), report);
  return report;
}

// The largest finite float32: a logit's range.
const F32_MAX = 3.4028234663852886e38;

/** The fields each suite records per sample (what merge accepts from a shard). */
const RECORD_FIELDS: Record<SuiteName, string[]> = {
  imagenet: ['label', 'top5'],
  'imagenet-a': ['label', 'pred'],
  'imagenet-r': ['label', 'pred'],
  'imagenet-o': ['confidence', 'maxLogit'],
  'imagenet-c': ['label', 'pred'],
  'imagenet-p': ['label', 'top5'],
  'imagenet-9': ['label', 'pred'],
};

/** A shard's per-sample record, checked: the suite's fields only, labels and predictions class indices (-1: none), confidences in [0, 1], max logits finite. */
function checkRecord(c: PayloadChecker, field: string, v: unknown, suite: SuiteName): SampleResult {
  // A sample left out as unreadable: its reason only.
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && 'skipped' in v) {
    if (typeof (v as { skipped: unknown }).skipped !== 'string') throw c.fail(`${field}.skipped`, 'a string');
    return { skipped: (v as { skipped: string }).skipped };
  }
  const keys = RECORD_FIELDS[suite];
  if (
    v === null ||
    typeof v !== 'object' ||
    Array.isArray(v) ||
    Object.keys(v).length !== keys.length ||
    !keys.every((k) => k in v)
  )
    throw c.fail(field, `a record with exactly ${keys.join(', ')}`);
  const r = v as SampleResult,
    K = IMAGENET_WNIDS.length;
  const top = (f: string, list: unknown) => {
    if (!Array.isArray(list) || list.length > 5) throw c.fail(f, 'at most 5 class indices');
    list.forEach((e, j) => c.int(`${f}[${j}]`, e, 0, K - 1));
  };
  if ('label' in r) c.int(`${field}.label`, r.label, -1, K - 1);
  if ('pred' in r) c.int(`${field}.pred`, r.pred, -1, K - 1);
  if ('confidence' in r) c.number(`${field}.confidence`, r.confidence, 0, 1);
  if ('maxLogit' in r) c.number(`${field}.maxLogit`, r.maxLogit, -F32_MAX, F32_MAX);
  if (suite === 'imagenet') top(`${field}.top5`, r.top5);
  if (suite === 'imagenet-p') {
    if (!Array.isArray(r.top5)) throw c.fail(`${field}.top5`, 'an array of frames');
    r.top5.forEach((frame, j) => top(`${field}.top5[${j}]`, frame));
  }
  return r;
}

/** The single run's report from all n shard reports of a suite run (ShardMergeError if they are not). */
export function mergeSuiteShards(shards: ShardReport<SuiteShardPayload>[], names?: string[]): SuiteReport {
  const ordered = mergeable(shards, names);
  const run = ordered[0].run as {
    suite: SuiteName;
    subsets: string[];
    summaryOptions: SummaryOptions;
  } & SuitePlan['identity'];
  const c0 = new PayloadChecker(`shard 1/${ordered.length}`);
  if (!Object.prototype.hasOwnProperty.call(KINDS, run.suite))
    throw c0.fail('run.suite', `one of ${SUITES.join(', ')}`);
  if (!Array.isArray(run.subsets) || !run.subsets.every((n) => typeof n === 'string'))
    throw c0.fail('run.subsets', 'an array of subset names');
  const evaluated: Evaluated[] = run.subsets.map((name) => ({ subset: { name, samples: [] }, results: [] }));
  const seen = new Set<string>();
  for (const r of ordered) {
    const c = new PayloadChecker(`shard ${r.shard.index}/${r.shard.count}`);
    const n = r.slice.end - r.slice.start;
    const samples = c.array('payload.samples', r.payload.samples, n),
      results = c.array('payload.results', r.payload.results, n);
    samples.forEach((s, i) => {
      const field = `payload.samples[${i}]`;
      if (!Array.isArray(s) || s.length !== 3 || typeof s[1] !== 'string' || typeof s[2] !== 'string')
        throw c.fail(field, '[subset index, id, class folder]');
      const [k, id, className] = s as [number, string, string];
      c.int(`${field}[0]`, k, 0, run.subsets.length - 1);
      if (seen.has(`${k}\t${id}`)) throw c.fail(`${field}[1]`, 'an id no other sample of the run has');
      seen.add(`${k}\t${id}`);
      evaluated[k].subset.samples.push({ id, className, files: [], label: -1 });
      evaluated[k].results.push(checkRecord(c, `payload.results[${i}]`, results[i], run.suite));
    });
  }
  return suiteReport(
    KINDS[run.suite],
    { suite: run.suite, model: run.model, settings: run.settings },
    run.summaryOptions,
    evaluated,
  );
}
