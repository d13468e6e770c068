// The messages between the calling thread and a worker: one request per call, then any number of
// callback messages (progress, fit's steps and epochs) and exactly one result or error.
import type { ModelMessage } from './models';
import type { DatasetMessage } from './datasets';
import type { ErrorMessage } from './errors';

export type TaskName = 'evaluate' | 'attack' | 'fit' | 'evaluateSuite' | 'analyze';

/** The callbacks a caller may pass in options; the worker calls stand-ins that post their arguments. */
export const CALLBACKS = ['onProgress', 'onStep', 'onEpoch'] as const;
export type CallbackName = (typeof CALLBACKS)[number];

export interface TaskRequest {
  id: number;
  task: TaskName;
  /** analyze: the analysis name. */
  analysis?: string;
  model: ModelMessage;
  data: DatasetMessage | null;
  /** Encoded options (codec.ts), callbacks and signal removed. */
  options: unknown;
  callbacks: CallbackName[];
  /** Int32Array view [0]: 1 once the caller aborted. */
  abortFlag: SharedArrayBuffer;
}

export type TaskReply =
  | { id: number; type: 'callback'; name: CallbackName; args: unknown[] }
  | { id: number; type: 'result'; value: unknown }
  | { id: number; type: 'error'; error: ErrorMessage };
