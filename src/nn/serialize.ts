// Saving a module's weights: every parameter and buffer under its PyTorch key, as float32
// safetensors that PyTorch (safetensors.torch.load_file + load_state_dict) and lkvit both read.
// A model from createModel / loadModel also stores its name and options in the metadata
// (`lkvit.model`, `lkvit.config`), so loading it needs no --model or --config.
import { openSync, readSync, closeSync } from 'fs';
import { writeSafetensors } from '../io/safetensors';
import { Module } from './module';

/** Writes the weights; `metadata` is added to what the module itself records (checkpointMetadata()). */
export function saveWeights(module: Module, path: string, metadata: Record<string, string> = {}): void {
  if (!(module instanceof Module)) throw new TypeError('saveWeights: module must be an lkvit Module');
  if (typeof path !== 'string' || path === '') throw new TypeError('saveWeights: path must be a non-empty string');
  const tensors = new Map([...module.stateDict()].map(([k, t]) => [k, { shape: t.shape, data: t.toArray() }]));
  writeSafetensors(path, tensors, { ...moduleMetadata(module), ...metadata });
}

/** What a module records about itself for a checkpoint (ImageClassifier: its name and options). */
export function moduleMetadata(module: Module): Record<string, string> {
  const own = (module as { checkpointMetadata?: () => Record<string, string> }).checkpointMetadata;
  return typeof own === 'function' ? own.call(module) : {};
}

/** The largest safetensors header read for its metadata alone (the format's own limit is 100 MB). */
const MAX_HEADER_BYTES = 100 * 1000 * 1000;

/**
 * The `__metadata__` strings of a safetensors file, reading only its header; {} for a file that is
 * not safetensors or whose header cannot be read (loading it then reports the problem). The values
 * come from the file: untrusted until checked.
 */
export function readWeightsMetadata(path: string): Record<string, string> {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(8);
    if (readSync(fd, head, 0, 8, 0) !== 8) return {};
    const length = Number(head.readBigUInt64LE(0));
    if (!(length >= 2 && length <= MAX_HEADER_BYTES)) return {};
    const header = Buffer.alloc(length);
    if (readSync(fd, header, 0, length, 8) !== length || header[0] !== 0x7b) return {};
    const meta: unknown = (JSON.parse(header.toString('utf8')) as Record<string, unknown>)?.['__metadata__'];
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return {};
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(meta)) if (typeof v === 'string') out[k] = v;
    return out;
  } catch {
    return {};
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
