// lkvit.background: the long library calls with promise APIs that run on worker threads, take an
// AbortSignal (`signal`) and report progress through the same callbacks as the synchronous calls.
import { ImageClassifier } from '../models/classifier';
import type { FitOptions, FitResult } from '../train/fit';
import { parseAugment } from '../train/augment';
import type { LabeledDataset } from '../io/dataset';
import { ATTACK_NAMES, RunAttackOptions, RunAttackResult } from '../attacks/run';
import { checkOneOf } from '../tensor/check';
import type { SuiteOptions } from '../suites/imagenet';
import type { SuiteReport } from '../suites/report';
import { EvaluateOptions, EvaluateResult, checkEvaluateOptions } from './evaluate';
import { analysisEntry } from './analyses';
import { ModelRef, ModelState, applyModelState } from './models';
import { DatasetSource, describeDataset } from './datasets';
import type { DatasetTag } from './codec';
import { WorkerPool, PoolOptions, prepareCall } from './pool';

/** Data for a background call: any LabeledDataset (in-memory ones are copied over), or a file source. */
export type BackgroundData = LabeledDataset | DatasetSource;

/** What every background call adds to the options of its synchronous twin. */
export interface BackgroundOptions {
  /** Aborting rejects the call with an AbortError at its next batch (or step); the pool stays usable. */
  signal?: AbortSignal;
}

function checkSignal(fn: string, signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  const s = signal as AbortSignal;
  if (!s || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function')
    throw new TypeError(`${fn}: signal must be an AbortSignal (new AbortController().signal), got ${typeof signal}`);
  return s;
}

export class Background {
  private readonly pool: WorkerPool;

  constructor(options: PoolOptions = {}) {
    this.pool = new WorkerPool(options);
  }

  /** Worker threads alive now. */
  get workers(): number {
    return this.pool.size;
  }

  /** Logits, top-1 class and top-1/top-5 accuracy of `model` over `data`. */
  async evaluate(
    model: ModelRef,
    data: BackgroundData,
    options: EvaluateOptions & BackgroundOptions = {},
  ): Promise<EvaluateResult> {
    const o = checkEvaluateOptions(options);
    const signal = checkSignal('evaluate', o.signal);
    return (await this.pool.run(await prepareCall('evaluate', 'evaluate', model, data, o), signal)) as EvaluateResult;
  }

  /** runAttack in a worker; `surrogate` may be a model instance like `model`. */
  async attack(
    model: ModelRef,
    data: BackgroundData,
    options: RunAttackOptions & BackgroundOptions,
  ): Promise<RunAttackResult> {
    const attack = (options as RunAttackOptions | undefined)?.attack;
    checkOneOf('attack', 'options.attack', attack, ATTACK_NAMES);
    const signal = checkSignal('attack', options.signal);
    return (await this.pool.run(
      await prepareCall('attack', 'attack', model, data, options),
      signal,
    )) as RunAttackResult;
  }

  /** evaluateSuite in a worker (the suite's files are read there). */
  async evaluateSuite(model: ModelRef, options: SuiteOptions): Promise<SuiteReport> {
    const signal = checkSignal('evaluateSuite', options?.signal);
    return (await this.pool.run(
      await prepareCall('evaluateSuite', 'evaluateSuite', model, null, options),
      signal,
    )) as SuiteReport;
  }

  /** One analysis by its `lkvit analyze` name (occlusion, frequency, ..., attack-curve) with that
   * analysis's options; `data` is null for kernel-distance, which reads only the weights. */
  async analyze(
    name: string,
    model: ModelRef,
    data: BackgroundData | null,
    options: Record<string, unknown> & BackgroundOptions = {},
  ): Promise<unknown> {
    const entry = analysisEntry('analyze', name);
    if (!entry.usesData && data !== null && data !== undefined)
      throw new TypeError(`analyze: ${name} reads only the model; pass null as data`);
    if (entry.usesData && (data === null || data === undefined)) throw new TypeError(`analyze: ${name} needs data`);
    const signal = checkSignal('analyze', options?.signal);
    return this.pool.run(
      await prepareCall('analyze', 'analyze', model, entry.usesData ? data : null, options, name),
      signal,
    );
  }

  /** fit in a worker: the trained weights, BatchNorm statistics and mode come back into `model`, as
   * the synchronous fit leaves them. `onProgress(done, total)` counts steps over all epochs. Named
   * augmentations ('rand-m9-mstd0.5-inc1', { name: 'mixup', alpha: 0.8 }, ...) cross to the worker
   * and are checked here first; an `augment` function cannot cross threads. */
  async fit(
    model: ImageClassifier,
    data: BackgroundData,
    options: FitOptions & BackgroundOptions & { onProgress?: (done: number, total: number) => void },
  ): Promise<FitResult> {
    if (!(model instanceof ImageClassifier))
      throw new TypeError('fit: model must be an ImageClassifier instance (it is trained in place)');
    if (options === null || typeof options !== 'object')
      throw new TypeError('fit: options { epochs, ... } are required');
    const signal = checkSignal('fit', options.signal);
    if (options.augment !== undefined && typeof options.augment !== 'function') parseAugment('fit', options.augment);
    const validation: DatasetTag | undefined =
      options.validation === undefined ? undefined : { $dataset: await describeDataset('fit', options.validation) };
    const call = await prepareCall('fit', 'fit', model, data, { ...options, validation });
    const r = (await this.pool.run(call, signal)) as FitResult & { state: ModelState };
    applyModelState(model, r.state);
    return { history: r.history };
  }

  /** Stops every worker thread (running and queued calls reject with an AbortError); later calls start new ones. */
  close(): Promise<void> {
    return this.pool.close();
  }
}

/** The shared pool behind lkvit.background (one worker, started on first use). */
export const background = new Background();
