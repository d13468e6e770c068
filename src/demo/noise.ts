// The demo's noise rows that are not frequency bands: white Gaussian noise over the whole spectrum,
// and a plain brightness shift (the zero frequency alone), each with and without clamping to [0, 1].
// Clamping matters on MNIST: on the black background it removes the negative half of zero-mean
// noise, so clamped noise also brightens the digit.
import type { ImageClassifier } from '../models/classifier';
import type { LabeledDataset } from '../io/dataset';
import { Tensor } from '../tensor/tensor';
import { Rng } from '../tensor/random';
import { predictLogits, topkCorrect, meanOf } from '../models/evaluate';
import { frequencyNoise } from '../suites/analyses';
import { Perturbation, noiseChannels } from './perturb';

export interface NoiseRow {
  /** 'white' or 'brightness'. */
  kind: string;
  clip: boolean;
  accuracy: number;
}

export interface NoiseRowsResult {
  samples: number;
  std: number;
  rows: NoiseRow[];
}

export interface NoiseRowsOptions {
  samples: number;
  std: number;
  perturb: Perturbation;
  seed: number;
  batchSize: number;
  onProgress?: (done: number, total: number) => void;
}

/** x + s * std on every pixel with s = +-1 drawn per image (per channel with 'rgb'), clamped or not. */
export function brightnessShift(
  x: Tensor,
  std: number,
  clip: boolean,
  perturb: Perturbation,
  seed: number,
  first: number,
): Tensor {
  const [N, C, H, W] = x.shape;
  const out = new Float32Array(x.size);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      // Keyed by the sample's index (and channel with 'rgb'), as the band noise is.
      const sign = Rng.keyed(seed, 0x6272, first + n, perturb === 'grey' ? 0 : c).uniform() < 0.5 ? -1 : 1;
      const o = (n * C + c) * H * W;
      for (let i = o; i < o + H * W; i++) {
        const v = x.data[i] + sign * std;
        out[i] = clip ? Math.min(1, Math.max(0, v)) : v;
      }
    }
  return new Tensor(out, x.shape);
}

export async function noiseRows(
  model: ImageClassifier,
  test: LabeledDataset,
  o: NoiseRowsOptions,
): Promise<NoiseRowsResult> {
  const rows: NoiseRow[] = [];
  const steps = 4;
  for (const clip of [false, true]) {
    // White noise: one band covering the whole spectrum, the zero frequency included.
    const white = await frequencyNoise(model, test, {
      bands: [0],
      bandWidth: 1,
      noise: { std: o.std },
      channels: noiseChannels(o.perturb),
      clip,
      zeroFrequency: true,
      seed: o.seed,
      limit: o.samples,
      batchSize: o.batchSize,
    });
    rows.push({ kind: 'white', clip, accuracy: white.bands[0].accuracy });
    o.onProgress?.(rows.length, steps);
  }
  const { x, y } = await test.load(0, Math.min(o.samples, test.length));
  for (const clip of [false, true]) {
    const shifted = brightnessShift(x, o.std, clip, o.perturb, o.seed, 0);
    rows.push({
      kind: 'brightness',
      clip,
      accuracy: meanOf(topkCorrect(predictLogits(model, shifted, o.batchSize), y, 1)),
    });
    o.onProgress?.(rows.length, steps);
  }
  return { samples: Math.min(o.samples, test.length), std: o.std, rows };
}
