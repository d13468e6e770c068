// Datasets across the thread boundary. File-backed data travels as its description (the worker
// reads the files itself); any other LabeledDataset is read once on the calling thread and its
// arrays are copied over.
import { Tensor } from '../tensor/tensor';
import { LabeledDataset, DatasetSource, tensorDataset, readLabeledSafetensors, imageDataset } from '../io/dataset';
import { abortError } from './errors';

export type { DatasetSource };

/** What travels: a source, or the samples themselves. */
export type DatasetMessage = DatasetSource | { kind: 'samples'; x: Float32Array; shape: number[]; y: Int32Array };

const isDataset = (d: unknown): d is LabeledDataset =>
  !!d &&
  typeof d === 'object' &&
  Number.isInteger((d as LabeledDataset).length) &&
  typeof (d as LabeledDataset).load === 'function';

function checkSource(fn: string, s: DatasetSource): DatasetSource {
  if (s.kind === 'safetensors') {
    if (typeof s.file !== 'string')
      throw new TypeError(`${fn}: data.file must be the path of a .safetensors file, got ${typeof s.file}`);
    return { kind: s.kind, file: s.file, keys: s.keys };
  }
  if (s.kind === 'images') {
    if (!Array.isArray(s.files))
      throw new TypeError(`${fn}: data.files must be an array of { file, label }, got ${typeof s.files}`);
    return {
      kind: s.kind,
      files: s.files.map((f) => ({ file: f?.file, label: f?.label })),
      transform: s.transform && { ...s.transform },
    };
  }
  throw new RangeError(
    `${fn}: data.kind must be 'safetensors' or 'images', got ${JSON.stringify((s as { kind: unknown }).kind)}`,
  );
}

/**
 * The message for `data`: a DatasetSource as it is, a dataset that carries one (a `source`
 * property) by it, and any other LabeledDataset by a copy of all its samples.
 */
export async function describeDataset(fn: string, data: unknown): Promise<DatasetMessage> {
  if (isDataset(data)) {
    const source = data.source;
    if (source !== undefined) return checkSource(fn, source);
    if (data.length < 1) throw new RangeError(`${fn}: data is empty`);
    const all = await data.load(0, data.length);
    return { kind: 'samples', x: all.x.data.slice(), shape: [...all.x.shape], y: all.y.slice() };
  }
  if (data && typeof data === 'object' && 'kind' in data) return checkSource(fn, data as DatasetSource);
  throw new TypeError(
    `${fn}: data must be a LabeledDataset (tensorDataset, imageDataset, ...) or { kind: 'safetensors', file } / { kind: 'images', files }, got ${data === null ? 'null' : typeof data}`,
  );
}

export function datasetTransferables(m: DatasetMessage): ArrayBuffer[] {
  return m.kind === 'samples' ? [m.x.buffer as ArrayBuffer, m.y.buffer as ArrayBuffer] : [];
}

/** Opens the dataset a message describes (in the worker). */
export function openDataset(m: DatasetMessage): LabeledDataset {
  switch (m.kind) {
    case 'samples':
      return tensorDataset(new Tensor(m.x, m.shape), m.y);
    case 'safetensors': {
      const { x, y } = readLabeledSafetensors(m.file, m.keys);
      return tensorDataset(x, y);
    }
    case 'images':
      return imageDataset(m.files, m.transform);
  }
}

/** The dataset with every load refused once `signal` is aborted: the library loops load one batch
 * at a time, so this stops runAttack and the analyses at their next batch. */
export function abortableDataset(
  data: LabeledDataset,
  signal: { readonly aborted: boolean },
  what: string,
): LabeledDataset {
  return {
    length: data.length,
    load(start, end) {
      if (signal.aborted) return Promise.reject(abortError(`${what}: aborted`));
      return data.load(start, end);
    },
    id: (i) => data.id(i),
  };
}
