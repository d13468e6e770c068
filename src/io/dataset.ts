// Labelled image data for the attacks, suites and analyses: one interface over in-memory tensors,
// .safetensors files (x in [0, 1], y integer labels) and image folders, loaded a batch at a time.
import * as fs from 'fs';
import * as path from 'path';
import { Tensor, shapeString } from '../tensor/tensor';
import { readSafetensors } from './safetensors';
import { loadImageBatch, imagesInFolder, checkListOptions, skippedNote, ImageTransform, ImageFileError } from './image';
import { printable } from './errors';

export interface Batch {
  /** [n, 3, H, W] in [0, 1]. */
  x: Tensor;
  /** One integer label per sample (-1 where a sample has none). */
  y: Int32Array;
}

export interface LabeledDataset {
  readonly length: number;
  /** Samples [start, end) as one batch. */
  load(start: number, end: number): Promise<Batch>;
  /** A stable name per sample (a file path, or the index), for reports and resuming. */
  id(i: number): string;
  /** Where a file-backed dataset reads from: lets a worker thread open the files itself instead
   * of receiving a copy of every sample (lk.background). */
  readonly source?: DatasetSource;
}

/** Data named by where it lives. */
export type DatasetSource =
  | { kind: 'safetensors'; file: string; keys?: { x?: string; y?: string } }
  | { kind: 'images'; files: LabeledFile[]; transform?: ImageTransform };

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of length ${(v as unknown as { length: number }).length}`;
  return typeof v === 'string' ? `'${v}'` : typeof v;
}

function checkRange(fn: string, start: number, end: number, length: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > length || start > end)
    throw new RangeError(`${fn}: need integers 0 <= start <= end <= ${length}, got start = ${start}, end = ${end}`);
}

/** Integer labels from a number array, typed array or tensor-like data, checked. */
export function toLabels(fn: string, name: string, v: unknown, count: number): Int32Array {
  const arr = v instanceof Tensor ? v.data : v;
  if (!(Array.isArray(arr) || ArrayBuffer.isView(arr)))
    throw new TypeError(`${fn}: ${name} must be an array of integer labels, got ${describe(v)}`);
  const a = arr as ArrayLike<number>;
  if (a.length !== count)
    throw new RangeError(`${fn}: ${name} must hold ${count} labels (one per sample), got ${a.length}`);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const l = Number(a[i]);
    if (!Number.isInteger(l) || l < -1)
      throw new RangeError(`${fn}: ${name}[${i}] must be an integer label >= -1, got ${a[i]}`);
    out[i] = l;
  }
  return out;
}

/** Slices of in-memory samples: x [N, 3, H, W], y N labels. */
export function tensorDataset(x: Tensor, y: ArrayLike<number> | Tensor): LabeledDataset {
  const fn = 'tensorDataset';
  if (!(x instanceof Tensor)) throw new TypeError(`${fn}: x must be a Tensor [N, 3, H, W], got ${describe(x)}`);
  if (x.ndim !== 4 || x.shape[1] !== 3)
    throw new RangeError(`${fn}: x must have shape [N, 3, H, W], got ${shapeString(x.shape)}`);
  const N = x.shape[0];
  const labels = toLabels(fn, 'y', y, N);
  const per = x.size / Math.max(N, 1);
  return {
    length: N,
    async load(start, end) {
      checkRange(`${fn}.load`, start, end, N);
      return {
        x: new Tensor(x.data.subarray(start * per, end * per), [end - start, ...x.shape.slice(1)]),
        y: labels.slice(start, end),
      };
    },
    id: (i) => String(i),
  };
}

/** Reads x ([N, 3, H, W] in [0, 1]) and y (N integer labels, any numeric dtype) from a .safetensors file. */
export function readLabeledSafetensors(
  file: string,
  keys: { x?: string; y?: string } = {},
): { x: Tensor; y: Int32Array } {
  const fn = 'readLabeledSafetensors';
  const xKey = keys.x ?? 'x',
    yKey = keys.y ?? 'y';
  const { tensors } = readSafetensors(file);
  const have = [...tensors.keys()].map(printable).join(', ') || 'none';
  const shown = printable(file);
  const xt = tensors.get(xKey),
    yt = tensors.get(yKey);
  if (!xt) throw new RangeError(`${fn}: ${shown} has no tensor '${xKey}' (it has ${have})`);
  if (!yt) throw new RangeError(`${fn}: ${shown} has no tensor '${yKey}' of labels (it has ${have})`);
  if (xt.shape.length !== 4 || xt.shape[1] !== 3)
    throw new RangeError(`${fn}: '${xKey}' in ${shown} must have shape [N, 3, H, W], got ${shapeString(xt.shape)}`);
  const x = new Tensor(xt.data, xt.shape);
  return { x, y: toLabels(fn, `'${yKey}' in ${shown}`, yt.data, xt.shape[0]) };
}

/** The samples of a .safetensors file (readLabeledSafetensors) as a dataset that remembers its file. */
export function safetensorsDataset(file: string, keys: { x?: string; y?: string } = {}): LabeledDataset {
  const { x, y } = readLabeledSafetensors(file, keys);
  return { ...tensorDataset(x, y), source: { kind: 'safetensors', file, keys } };
}

export interface LabeledFile {
  file: string;
  label: number;
}

/** Images decoded a batch at a time with the evaluation transform (default resize 256, crop 224). */
export function imageDataset(files: LabeledFile[], transform?: ImageTransform): LabeledDataset {
  const fn = 'imageDataset';
  if (!Array.isArray(files))
    throw new TypeError(`${fn}: files must be an array of { file, label }, got ${describe(files)}`);
  files.forEach((f, i) => {
    if (!f || typeof f.file !== 'string' || !Number.isInteger(f.label) || f.label < -1)
      throw new TypeError(`${fn}: files[${i}] must be { file: string, label: integer >= -1 }`);
  });
  return {
    length: files.length,
    async load(start, end) {
      checkRange(`${fn}.load`, start, end, files.length);
      const part = files.slice(start, end);
      if (part.length === 0) throw new RangeError(`${fn}.load: empty range [${start}, ${end})`);
      const b = await loadImageBatch(
        part.map((f) => f.file),
        transform,
      );
      return { x: new Tensor(b.data, b.shape), y: Int32Array.from(part, (f) => f.label) };
    },
    id: (i) => files[i].file,
    source: { kind: 'images', files: files.map((f) => ({ file: f.file, label: f.label })), transform },
  };
}

/**
 * The images of a class-folder tree (root/CLASS/*.jpg, as ImageNet and its variants publish them),
 * sorted by class then file. `labelOf` maps a folder name to a label; folders it returns undefined for
 * are left out (a subset), and `strict` makes an unknown folder an error instead. Only regular files
 * are listed; symbolic links are followed only to files inside `root`, unless `followLinks`.
 */
export function classFolderFiles(
  root: string,
  labelOf: (folder: string) => number | undefined,
  options: { strict?: boolean; followLinks?: boolean } = {},
): (LabeledFile & { folder: string })[] {
  const fn = 'classFolderFiles';
  const { followLinks } = checkListOptions(fn, options, ['strict']);
  const skipped: string[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch (e) {
    throw new Error(`${fn}: cannot read the folder '${printable(root)}': ${printable((e as Error).message)}`, {
      cause: e,
    });
  }
  const folders = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const out: (LabeledFile & { folder: string })[] = [];
  for (const folder of folders) {
    const label = labelOf(folder);
    if (label === undefined) {
      if (options.strict)
        throw new RangeError(`${fn}: '${printable(path.join(root, folder))}' is not a known class folder`);
      continue;
    }
    const files = imagesInFolder(fn, path.join(root, folder), { recursive: false, followLinks, skipped, within: root });
    for (const file of files.sort()) out.push({ file, label, folder });
  }
  if (out.length === 0)
    throw new RangeError(`${fn}: no images in known class folders under '${printable(root)}'${skippedNote(skipped)}`);
  return out;
}

/** An image file left out of a run because it could not be read or decoded, and why. */
export interface SkippedImage {
  file: string;
  reason: string;
}

/**
 * Decodes groups of files (a sample is one image, or a sequence of them) as one batch, leaving out
 * each group with a file that cannot be read or decoded (an ImageFileError: truncated, corrupt,
 * unreadable, over the pixel limit); `kept` are the indices of the groups in `data`, in order. Any
 * other error is thrown. A long run over a folder thus loses the bad files, not the run.
 */
export async function loadReadableImages(
  groups: string[][],
  transform?: ImageTransform,
  onSkip?: (skipped: SkippedImage) => void,
): Promise<{ data: Float32Array; shape: [number, 3, number, number]; kept: number[]; skipped: SkippedImage[] }> {
  try {
    const all = await loadImageBatch(groups.flat(), transform);
    return { ...all, kept: groups.map((_, i) => i), skipped: [] };
  } catch (e) {
    if (!(e instanceof ImageFileError)) throw e;
  }
  // Some file is bad: decode group by group to find which.
  const parts: { i: number; data: Float32Array; shape: [number, 3, number, number] }[] = [];
  const skipped: SkippedImage[] = [];
  for (const [i, files] of groups.entries()) {
    try {
      parts.push({ i, ...(await loadImageBatch(files, transform)) });
    } catch (e) {
      if (!(e instanceof ImageFileError)) throw e;
      const s = { file: e.file, reason: e.message };
      skipped.push(s);
      onSkip?.(s);
    }
  }
  const per = parts.length ? parts[0].data.length / parts[0].shape[0] : 0;
  const data = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
  parts.reduce((at, p) => (data.set(p.data, at), at + p.data.length), 0);
  const [, c, h, w] = parts.length ? parts[0].shape : [0, 3, 0, 0];
  return { data, shape: [per ? data.length / per : 0, c as 3, h, w], kept: parts.map((p) => p.i), skipped };
}

/** Walks a dataset in batches of at most batchSize, over [start, end) (default: all). */
export async function* batches(
  ds: LabeledDataset,
  batchSize: number,
  range: { start?: number; end?: number } = {},
): AsyncGenerator<Batch & { start: number; end: number }> {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batches: batchSize must be an integer >= 1, got ${batchSize}`);
  const start = range.start ?? 0,
    end = range.end ?? ds.length;
  checkRange('batches', start, end, ds.length);
  for (let i = start; i < end; i += batchSize) {
    const j = Math.min(end, i + batchSize);
    const b = await ds.load(i, j);
    yield { ...b, start: i, end: j };
  }
}

/** The samples at `indices` (any order, e.g. a shuffled epoch) as one batch. */
export async function loadIndices(ds: LabeledDataset, indices: ArrayLike<number>): Promise<Batch> {
  const parts: Batch[] = [];
  for (let i = 0; i < indices.length; i++) parts.push(await ds.load(indices[i], indices[i] + 1));
  const per = parts[0].x.size;
  const x = new Float32Array(per * parts.length);
  parts.forEach((b, i) => x.set(b.x.data, i * per));
  return { x: new Tensor(x, [parts.length, ...parts[0].x.shape.slice(1)]), y: Int32Array.from(parts, (b) => b.y[0]) };
}
