// The calling thread's side: a small pool of worker threads that run the long library calls, so the
// host's event loop keeps turning. Calls queue when every worker is busy; idle workers are unref'd
// so they never keep the process alive, and a worker that dies is replaced by the next call.
import * as path from 'path';
import { Worker } from 'worker_threads';
import { ModelMessage, describeModel, modelTransferables } from './models';
import { DatasetMessage, describeDataset, datasetTransferables } from './datasets';
import { encode, decode } from './codec';
import { abortError, errorFromMessage } from './errors';
import { CALLBACKS, CallbackName, TaskName, TaskRequest, TaskReply } from './protocol';

export interface CallSpec {
  fn: string;
  task: TaskName;
  analysis?: string;
  model: ModelMessage;
  data: DatasetMessage | null;
  options: Record<string, unknown>;
}

interface Job {
  request: TaskRequest;
  transfer: ArrayBuffer[];
  callbacks: Partial<Record<CallbackName, (...args: unknown[]) => void>>;
  flag: Int32Array;
  signal?: AbortSignal;
  /** An error thrown by one of the caller's callbacks: the call stops and rejects with it. */
  callbackError?: unknown;
  /** Set once the promise is settled (an abort settles at once; the worker's late reply is then dropped). */
  settled: boolean;
  settle(error: unknown, value?: unknown): void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
}

const WORKER_SCRIPT = path.join(__dirname, 'worker_main.js');

export interface PoolOptions {
  /** Most worker threads at once (default 1: the native kernels already use every core). */
  maxWorkers?: number;
}

export class WorkerPool {
  readonly maxWorkers: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;

  constructor(options: PoolOptions = {}) {
    const n = options.maxWorkers ?? 1;
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`background: maxWorkers must be an integer >= 1, got ${String(n)}`);
    this.maxWorkers = n;
  }

  /** Worker threads alive now (busy or idle). */
  get size(): number {
    return this.slots.length;
  }

  /** Runs one call in a worker; options' callbacks are called here, `signal` stops it between batches. */
  run(spec: CallSpec, signal: AbortSignal | undefined): Promise<unknown> {
    const { options } = spec;
    const callbacks: Job['callbacks'] = {};
    const rest: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(options)) {
      if ((CALLBACKS as readonly string[]).includes(key) && v !== undefined) {
        if (typeof v !== 'function') throw new TypeError(`${spec.fn}: ${key} must be a function, got ${typeof v}`);
        callbacks[key as CallbackName] = v as (...args: unknown[]) => void;
      } else if (key !== 'signal') rest[key] = v;
    }
    const encoded = encode(spec.fn, 'options', rest, false);
    const abortFlag = new SharedArrayBuffer(4);
    const request: TaskRequest = {
      id: this.nextId++,
      task: spec.task,
      analysis: spec.analysis,
      model: spec.model,
      data: spec.data,
      options: encoded.value,
      callbacks: Object.keys(callbacks) as CallbackName[],
      abortFlag,
    };
    const transfer = [
      ...new Set([...modelTransferables(spec.model), ...(spec.data ? datasetTransferables(spec.data) : [])]),
    ];
    // Node's convention (fetch, timers/promises): an aborted call rejects at once with signal.reason
    // (an AbortError DOMException for abort(), a TimeoutError for AbortSignal.timeout()); no
    // callback runs after that, and a running worker stops at its next batch.
    const reason = () => signal?.reason ?? abortError(`${spec.fn}: aborted`);
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(reason());
      const job: Job = {
        request,
        transfer,
        callbacks,
        flag: new Int32Array(abortFlag),
        signal,
        settled: false,
        settle: (error, value) => {
          if (job.settled) return;
          job.settled = true;
          signal?.removeEventListener('abort', onAbort);
          if (error !== undefined) reject(error);
          else resolve(value);
        },
      };
      const onAbort = () => {
        const queued = this.queue.indexOf(job);
        if (queued >= 0) this.queue.splice(queued, 1);
        else Atomics.store(job.flag, 0, 1);
        job.settle(reason());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.schedule();
    });
  }

  /** Terminates every worker; running and queued calls reject with an AbortError. Later calls start new workers. */
  async close(): Promise<void> {
    const closed = (job: Job) => job.settle(abortError(`${job.request.task}: the background pool was closed`));
    this.queue.splice(0).forEach(closed);
    const slots = this.slots.splice(0);
    await Promise.all(
      slots.map(async (slot) => {
        const job = slot.job;
        slot.job = null;
        await slot.worker.terminate();
        if (job) closed(job);
      }),
    );
  }

  private schedule(): void {
    while (this.queue.length) {
      let slot = this.slots.find((s) => s.job === null);
      if (!slot) {
        if (this.slots.length >= this.maxWorkers) return;
        slot = this.spawn();
      }
      const job = this.queue.shift() as Job;
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage(job.request, job.transfer);
    }
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SCRIPT);
    const slot: Slot = { worker, job: null };
    worker.on('message', (reply: TaskReply) => this.onReply(slot, reply));
    // An uncaught failure or an exit kills the worker: its call rejects and the slot is dropped.
    const fail = (error: Error) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      const job = slot.job;
      slot.job = null;
      job?.settle(error);
      this.schedule();
    };
    worker.on('error', fail);
    worker.on('exit', (code) =>
      fail(
        new Error(`background worker exited with code ${code} while running ${slot.job?.request.task ?? 'nothing'}`),
      ),
    );
    this.slots.push(slot);
    return slot;
  }

  private onReply(slot: Slot, reply: TaskReply): void {
    const job = slot.job;
    if (!job || reply.id !== job.request.id) return;
    if (reply.type === 'callback') {
      if (job.callbackError !== undefined || job.settled) return;
      try {
        job.callbacks[reply.name]?.(...reply.args);
      } catch (e) {
        job.callbackError = e;
        Atomics.store(job.flag, 0, 1);
      }
      return;
    }
    slot.job = null;
    slot.worker.unref();
    if (job.callbackError !== undefined) job.settle(job.callbackError);
    else if (reply.type === 'error') job.settle(errorFromMessage(reply.error));
    else job.settle(undefined, decode(reply.value));
    this.schedule();
  }
}

/** Model, data and options of one call, checked and made ready to send. */
export async function prepareCall(
  fn: string,
  task: TaskName,
  model: unknown,
  data: unknown | null,
  options: unknown,
  analysis?: string,
): Promise<CallSpec> {
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options)))
    throw new TypeError(
      `${fn}: options must be an object, got ${Array.isArray(options) ? 'an array' : typeof options}`,
    );
  const modelMessage = describeModel(fn, 'model', model);
  const dataMessage = data === null ? null : await describeDataset(fn, data);
  return {
    fn,
    task,
    analysis,
    model: modelMessage,
    data: dataMessage,
    options: { ...(options as Record<string, unknown>) },
  };
}
