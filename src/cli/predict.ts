// lkvit predict: logits of a checkpoint on tensors or image files, written to .safetensors.
import { basename } from 'path';
import { readFileSync } from 'fs';
import { Tensor, noGrad } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import type { ImageClassifier } from '../models/classifier';
import { readSafetensors, writeSafetensors } from '../io';
import { DEFAULT_MAX_PIXELS, listImageFiles, loadImageBatch } from '../io/image';
import { loadReadableImages } from '../io/dataset';
import { printable } from '../io/errors';
import { FlagSpec, parseFlags, usage, intFlag, existingFile, commandOutput, COMMON_FLAGS, UsageError } from './args';
import type { Progress } from './progress';
import { MODEL_FLAGS, loadModelFromFlags, loadLimitFlags } from './model_flags';

const FLAGS: Record<string, FlagSpec> = {
  ...MODEL_FLAGS,
  input: {
    type: 'string',
    help: '.safetensors holding an [N, 3, H, W] tensor in [0, 1]; this or --images',
    default: 'none',
  },
  key: { type: 'string', help: 'tensor to read from --input', default: "'x', or its only tensor" },
  images: {
    type: 'list',
    help: 'image files or directories (JPEG, PNG, WebP), several after one flag (a shell glob: --images photos/*.jpg) or repeated; this or --input',
    default: 'none',
  },
  out: { type: 'string', help: "output .safetensors; logits under the key 'logits'", required: true },
  resize: { type: 'string', help: 'images: shorter side before the crop', default: 'crop / 0.875, 256 for 224' },
  crop: { type: 'string', help: 'images: centre crop', default: "the model's input size, else 224" },
  'batch-size': { type: 'string', help: 'images per forward pass', default: '8' },
  'follow-links': {
    type: 'boolean',
    help: 'images: follow symbolic links that point outside the folders given',
    default: 'off',
  },
  'max-pixels': {
    type: 'string',
    help: 'images: largest width x height decoded; larger files are refused',
    default: `${DEFAULT_MAX_PIXELS} (100 megapixels)`,
  },
  'strict-images': {
    type: 'boolean',
    help: 'images: stop at the first file that cannot be read or decoded (default: report it, leave it out, count it)',
    default: 'off',
  },
  'class-names': {
    type: 'string',
    help: 'text file with one class name per line, for the top-5 print',
    default: 'class indices',
  },
  ...COMMON_FLAGS,
};
const SYNOPSIS = '--model NAME --weights FILE (--input FILE [--key x] | --images PATH...) --out FILE [options]';

type Print = (line: string) => void;

/** The top-5 classes of one image, for the print and the JSON result. */
interface TopClasses {
  file: string;
  classes: { index: number; name?: string; probability: number }[];
}

export async function predictCommand(argv: string[], print: Print): Promise<void> {
  const f = parseFlags(argv, FLAGS, 'predict');
  if (f.help) return print(usage('predict', SYNOPSIS, FLAGS));
  for (const name of ['weights', 'out'])
    if (f[name] === undefined) throw new UsageError(`predict: --${name} is required ('lkvit predict --help')`);
  if ((f.input === undefined) === (f.images === undefined))
    throw new UsageError('predict: give exactly one of --input and --images');
  if (f.key !== undefined && f.input === undefined) throw new UsageError('predict: --key goes with --input');
  if (f['follow-links'] && f.images === undefined) throw new UsageError('predict: --follow-links goes with --images');
  existingFile(f, 'input', 'predict');
  existingFile(f, 'class-names', 'predict');
  for (const path of (f.images as string[] | undefined) ?? [])
    existingFile({ images: path }, 'images', 'predict', 'any');
  const batchSize = intFlag(f, 'batch-size', 'predict') ?? 8;
  const cropFlag = intFlag(f, 'crop', 'predict');
  const resizeFlag = intFlag(f, 'resize', 'predict');
  const maxPixels = intFlag(f, 'max-pixels', 'predict') ?? DEFAULT_MAX_PIXELS;
  const out = commandOutput(f, print);
  const model = loadModelFromFlags(f, 'predict', out.say);

  const started = Date.now();
  let logits: Tensor,
    files: string[] = [];
  const skipped: string[] = [];
  if (f.input !== undefined) {
    const x = readInput(String(f.input), f.key as string | undefined, loadLimitFlags(f, 'predict'));
    const bar = out.progress('predict', x.shape[0]);
    logits = runBatched(model, x, batchSize, bar);
    bar.finish();
  } else {
    files = listImageFiles(f.images as string[], { followLinks: Boolean(f['follow-links']) });
    const crop = cropFlag ?? model.imageSize ?? 224;
    const resize = resizeFlag ?? Math.floor(crop / 0.875);
    const bar = out.progress('predict', files.length);
    const parts: Tensor[] = [];
    const readable: string[] = [];
    for (let i = 0; i < files.length; i += batchSize) {
      const group = files.slice(i, i + batchSize);
      const transform = { resize, crop, maxPixels };
      // An unreadable file is reported and left out (its name is not in the output's list), unless --strict-images.
      const batch = f['strict-images']
        ? { ...(await loadImageBatch(group, transform)), kept: group.map((_, j) => j) }
        : await loadReadableImages(
            group.map((file) => [file]),
            transform,
            (s) => {
              skipped.push(s.file);
              out.say(`warning: left out (unreadable image): ${s.reason}`);
            },
          );
      readable.push(...batch.kept.map((j) => group[j]));
      if (batch.kept.length) parts.push(runBatched(model, new Tensor(batch.data, batch.shape), batchSize));
      bar.update(Math.min(files.length, i + batchSize));
    }
    bar.finish();
    if (parts.length === 0) throw new Error(`predict: none of the ${files.length} image(s) could be read`);
    files = readable;
    logits = parts.length === 1 ? parts[0] : ops.cat(parts, 0);
  }
  const seconds = (Date.now() - started) / 1000;
  writeSafetensors(
    String(f.out),
    { logits: { shape: logits.shape, data: logits.data } },
    {
      model: model.modelName ?? String(f.model),
      weights: basename(String(f.weights)),
      ...(files.length && { images: JSON.stringify(files.map((p) => basename(p))) }),
    },
  );
  const n = logits.shape[0];
  out.say(
    `${n} input(s) in ${seconds.toFixed(2)} s (${(n / seconds).toFixed(2)} images/s); logits [${logits.shape.join(', ')}] -> ${String(f.out)}` +
      (skipped.length ? `; ${skipped.length} unreadable image(s) left out` : ''),
  );
  const top5 = files.length ? topClasses(files, logits, f['class-names'] as string | undefined) : [];
  for (const row of top5)
    out.say(
      `${printable(basename(row.file))}: ${row.classes.map((c) => `${c.index}${c.name ? ` ${c.name}` : ''} (${(100 * c.probability).toFixed(1)}%)`).join(', ')}`,
    );
  out.result({
    model: model.modelName ?? String(f.model),
    weights: basename(String(f.weights)),
    out: String(f.out),
    inputs: n,
    logitsShape: logits.shape,
    seconds,
    imagesPerSecond: n / seconds,
    ...(files.length && { top5 }),
    ...(skipped.length && { skipped: { count: skipped.length, files: skipped } }),
  });
}

function readInput(
  path: string,
  key: string | undefined,
  limits: { maxBytes?: number; maxExpansion?: number },
): Tensor {
  const { tensors } = readSafetensors(path, limits);
  const name = key ?? (tensors.has('x') || tensors.size !== 1 ? 'x' : [...tensors.keys()][0]);
  const t = tensors.get(name);
  if (!t)
    throw new UsageError(
      `predict: ${path} has no tensor '${printable(name)}' (it has ${[...tensors.keys()].map(printable).join(', ') || 'none'}); choose one with --key`,
    );
  return new Tensor(t.data, t.shape);
}

function runBatched(model: ImageClassifier, x: Tensor, batchSize: number, bar?: Progress): Tensor {
  const N = x.shape[0];
  const parts: Tensor[] = [];
  for (let i = 0; i < N; i += batchSize) {
    parts.push(noGrad(() => model.forward(N <= batchSize ? x : ops.slice(x, 0, i, Math.min(N, i + batchSize)))));
    bar?.update(Math.min(N, i + batchSize));
  }
  return parts.length === 1 ? parts[0] : ops.cat(parts, 0);
}

function topClasses(files: string[], logits: Tensor, namesFile: string | undefined): TopClasses[] {
  const names = namesFile ? readFileSync(namesFile, 'utf8').split(/\r?\n/) : null;
  const probs = noGrad(() => ops.softmax(logits, 1));
  const C = logits.shape[1];
  return files.map((file, i) => {
    const row = probs.data.subarray(i * C, (i + 1) * C);
    const top = Array.from(row.keys())
      .sort((a, b) => row[b] - row[a])
      .slice(0, 5);
    return {
      file,
      classes: top.map((c) => ({ index: c, ...(names && names[c] && { name: names[c] }), probability: row[c] })),
    };
  });
}
