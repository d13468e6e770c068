// Values across the thread boundary. Structured cloning copies plain data and typed arrays but
// drops classes, so Tensors and models are wrapped in tagged objects on the way out and rebuilt on
// the way in; functions cannot cross and are refused with the path of the offending option.
import { Tensor } from '../tensor/tensor';
import { ImageClassifier } from '../models/classifier';
import { ModelMessage, describeModel, modelTransferables, rebuildModel } from './models';
import { DatasetMessage, openDataset } from './datasets';

interface TensorTag {
  $tensor: { data: Float32Array; shape: number[] };
}
interface ModelTag {
  $model: ModelMessage;
}
/** A dataset inside options (fit's validation), described beforehand by describeDataset (async). */
export interface DatasetTag {
  $dataset: DatasetMessage;
}

export interface Encoded {
  value: unknown;
  /** Buffers to transfer with the message instead of copying. */
  transfer: ArrayBuffer[];
}

const isPlainObject = (v: object): boolean => {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * Encodes `value` for postMessage. With `moveTensors`, tensor buffers that nothing else views are
 * transferred (the worker's results: it drops them anyway); without, they are copied (the caller's
 * tensors must stay usable).
 */
export function encode(fn: string, what: string, value: unknown, moveTensors: boolean): Encoded {
  const transfer = new Set<ArrayBuffer>();
  const walk = (v: unknown, at: string): unknown => {
    if (typeof v === 'function')
      throw new TypeError(`${fn}: ${at} is a function, which cannot be sent to a worker thread`);
    if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return v;
    if (v instanceof Tensor) {
      const whole =
        v.data.byteOffset === 0 &&
        v.data.byteLength === v.data.buffer.byteLength &&
        v.data.buffer instanceof ArrayBuffer;
      if (moveTensors && whole) transfer.add(v.data.buffer as ArrayBuffer);
      const tag: TensorTag = { $tensor: { data: v.data, shape: [...v.shape] } };
      return tag;
    }
    if (v instanceof ImageClassifier) {
      const m = describeModel(fn, at, v);
      modelTransferables(m).forEach((b) => transfer.add(b));
      const tag: ModelTag = { $model: m };
      return tag;
    }
    if (Array.isArray(v)) return v.map((e, i) => walk(e, `${at}[${i}]`));
    if (v instanceof Map) return new Map([...v].map(([k, e]) => [k, walk(e, `${at}.get(${JSON.stringify(k)})`)]));
    if (v instanceof Date || v instanceof RegExp || v instanceof Set) return v;
    if (!isPlainObject(v))
      throw new TypeError(
        `${fn}: ${at} is a ${v.constructor?.name ?? 'class instance'}, which cannot be sent to a worker thread`,
      );
    const out: Record<string, unknown> = {};
    for (const [k, e] of Object.entries(v)) if (e !== undefined) out[k] = walk(e, `${at}.${k}`);
    return out;
  };
  const encoded = walk(value, what);
  return { value: encoded, transfer: [...transfer] };
}

/** Rebuilds what `encode` wrapped: Tensors, and models (built afresh in this thread). */
export function decode(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || value instanceof ArrayBuffer)
    return value;
  if (Array.isArray(value)) return value.map(decode);
  if (value instanceof Map) return new Map([...value].map(([k, e]) => [k, decode(e)]));
  if (!isPlainObject(value)) return value;
  if ('$tensor' in value) {
    const t = (value as TensorTag).$tensor;
    return new Tensor(t.data, t.shape);
  }
  if ('$model' in value) return rebuildModel((value as ModelTag).$model);
  if ('$dataset' in value) return openDataset((value as DatasetTag).$dataset);
  const out: Record<string, unknown> = {};
  for (const [k, e] of Object.entries(value)) out[k] = decode(e);
  return out;
}
