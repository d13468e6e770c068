// Training checkpoints: one safetensors file with the model's state (`model.<key>`), the optimiser's
// (`optimizer.<key>`) and, in the metadata, where training stands (epoch, history, the settings it
// must be resumed with). Loading reads tensors and JSON only; nothing in the file is executed.
import * as fs from 'fs';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { Module, StateDictError } from '../nn/module';
import { moduleMetadata } from '../nn/serialize';
import { summarizeLoadReport } from '../models/infer';
import { Optimizer } from './optim';

export const CHECKPOINT_FORMAT = 'lkvit-train-1';

export interface TrainingProgress {
  /** Epochs completed. */
  epoch: number;
  /** Whatever the trainer needs back (history, settings), stored as JSON. */
  info: Record<string, unknown>;
}

/** Writes model + optimiser + progress to `path` atomically (a crash mid-write keeps the old file). */
export function saveCheckpoint(path: string, model: Module, optimizer: Optimizer, progress: TrainingProgress): void {
  const tensors = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [k, t] of model.stateDict()) tensors.set(`model.${k}`, { shape: t.shape, data: t.toArray() });
  for (const [k, e] of optimizer.stateDict()) tensors.set(`optimizer.${k}`, e);
  const tmp = `${path}.tmp-${process.pid}`;
  writeSafetensors(tmp, tensors, {
    // The model's name and options (lkvit.model, lkvit.config), as saveWeights stores them.
    ...moduleMetadata(model),
    format: CHECKPOINT_FORMAT,
    optimizer: optimizer.name,
    epoch: String(progress.epoch),
    info: JSON.stringify(progress.info),
  });
  fs.renameSync(tmp, path);
}

/** Restores model and optimiser from a checkpoint written by saveCheckpoint; returns its progress. */
export function loadCheckpoint(path: string, model: Module, optimizer?: Optimizer): TrainingProgress {
  const { tensors, metadata } = readSafetensors(path);
  if (metadata.format !== CHECKPOINT_FORMAT)
    throw new RangeError(
      `loadCheckpoint: '${path}' is not an lkvit training checkpoint (format '${metadata.format ?? 'none'}', expected '${CHECKPOINT_FORMAT}')`,
    );
  if (optimizer && metadata.optimizer !== optimizer.name)
    throw new RangeError(
      `loadCheckpoint: '${path}' holds ${metadata.optimizer} state, the optimiser is ${optimizer.name}`,
    );
  const modelState = new Map(),
    optState = new Map();
  for (const [k, e] of tensors) {
    if (k.startsWith('model.')) modelState.set(k.slice(6), e);
    else if (k.startsWith('optimizer.')) optState.set(k.slice(10), e);
    else throw new RangeError(`loadCheckpoint: unexpected tensor '${k}' in '${path}'`);
  }
  const epoch = Number(metadata.epoch);
  if (!Number.isInteger(epoch) || epoch < 0)
    throw new RangeError(`loadCheckpoint: '${path}' has a bad epoch '${metadata.epoch}'`);
  let info: Record<string, unknown>;
  try {
    info = JSON.parse(metadata.info ?? '{}');
  } catch {
    throw new RangeError(`loadCheckpoint: '${path}' has unreadable metadata`);
  }
  const recorded = metadata['lkvit.model'],
    own = moduleMetadata(model)['lkvit.model'];
  if (recorded !== undefined && own !== undefined && recorded !== own)
    throw new RangeError(`loadCheckpoint: '${path}' holds a ${recorded.slice(0, 80)} model, this one is ${own}`);
  try {
    model.loadStateDict(modelState);
  } catch (e) {
    if (!(e instanceof StateDictError)) throw e;
    const [counts, ...keys] = summarizeLoadReport(e.report);
    const config =
      metadata['lkvit.config'] !== undefined
        ? ` (it records ${recorded} ${metadata['lkvit.config'].slice(0, 400)})`
        : '';
    throw new StateDictError(
      [`loadCheckpoint: '${path}' does not fit this model${config}: ${counts}`, ...keys].join('\n'),
      e.report,
    );
  }
  optimizer?.loadStateDict(optState);
  return { epoch, info };
}
