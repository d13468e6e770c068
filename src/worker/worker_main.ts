// The worker thread's side: rebuilds the model, the data and the options of each request, runs the
// library call and posts back callbacks and the result. Synchronous library code cannot see the
// caller's AbortSignal, so the signal it gets reads a flag in shared memory instead.
import { parentPort } from 'worker_threads';
import type { ImageClassifier } from '../models/classifier';
import type { LabeledDataset } from '../io/dataset';
import { runAttack } from '../attacks/run';
import { evaluateSuite } from '../suites/imagenet';
import { fit, StepInfo } from '../train/fit';
import { evaluate } from './evaluate';
import { analysisEntry } from './analyses';
import { rebuildModel, modelState } from './models';
import { openDataset, abortableDataset } from './datasets';
import { encode, decode } from './codec';
import { errorToMessage } from './errors';
import { TaskName, TaskRequest, TaskReply } from './protocol';

type Options = Record<string, unknown>;
type Run = (
  model: ImageClassifier,
  data: LabeledDataset | null,
  options: Options,
  request: TaskRequest,
) => Promise<unknown>;

// `signal`: whether the call takes a signal option itself; the others stop through the data.
const TASKS: Record<TaskName, { signal: boolean; run: Run }> = {
  evaluate: { signal: true, run: (m, d, o) => evaluate(m, d as LabeledDataset, o) },
  attack: { signal: false, run: (m, d, o) => runAttack(m, d as LabeledDataset, o as never) },
  evaluateSuite: { signal: true, run: (m, _d, o) => evaluateSuite(m, o as never) },
  analyze: { signal: false, run: async (m, d, o, r) => analysisEntry('analyze', r.analysis).run(m, d, o) },
  // The trained state goes back with the history, for the caller's instance.
  fit: {
    signal: true,
    run: async (m, d, o) => ({
      ...(await fit(m, d as LabeledDataset, withStepProgress(o) as never)),
      state: modelState(m),
    }),
  },
};

/** fit reports steps; a caller's onProgress(done, total) counts them over the whole run. */
function withStepProgress(options: Options): Options {
  const { onProgress, ...rest } = options as Options & { onProgress?: (done: number, total: number) => void };
  if (!onProgress) return options;
  const onStep = rest.onStep as ((s: StepInfo) => void) | undefined;
  const epochs = rest.epochs as number;
  return {
    ...rest,
    onStep: (s: StepInfo) => {
      onStep?.(s);
      onProgress((s.epoch - 1) * s.stepsPerEpoch + s.step, epochs * s.stepsPerEpoch);
    },
  };
}

const port = parentPort;
if (!port) throw new Error('lkvit worker_main.js runs only as a worker thread (see lkvit.background)');

function post(reply: TaskReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(reply, transfer);
}

async function handle(request: TaskRequest): Promise<void> {
  const { id } = request;
  try {
    const flag = new Int32Array(request.abortFlag);
    const signal = {
      get aborted() {
        return Atomics.load(flag, 0) === 1;
      },
    };
    const task = TASKS[request.task];
    const model = rebuildModel(request.model);
    const data = request.data && abortableDataset(openDataset(request.data), signal, request.analysis ?? request.task);
    const options = decode(request.options) as Options;
    for (const name of request.callbacks)
      options[name] = (...args: unknown[]) => post({ id, type: 'callback', name, args });
    if (task.signal) options.signal = signal;
    const value = await task.run(model, data, options, request);
    const encoded = encode(request.task, 'result', value, true);
    post({ id, type: 'result', value: encoded.value }, encoded.transfer);
  } catch (e) {
    post({ id, type: 'error', error: errorToMessage(e) });
  }
}

port.on('message', (request: TaskRequest) => void handle(request));
