// The analyses by the names `lkvit analyze NAME` uses, as one call shape (model, data, options),
// so that a worker can run any of them by name.
import type { ImageClassifier } from '../models/classifier';
import type { LabeledDataset } from '../io/dataset';
import * as analyses from '../suites/analyses';
import { checkOneOf } from '../tensor/check';

type AnalysisFn = (model: ImageClassifier, data: LabeledDataset | null, options: Record<string, unknown>) => unknown;

export interface AnalysisEntry {
  /** false for the analyses of the weights alone (no data, no progress). */
  usesData: boolean;
  run: AnalysisFn;
}

const withData = (f: (m: ImageClassifier, d: LabeledDataset, o: never) => unknown): AnalysisEntry => ({
  usesData: true,
  run: (m, d, o) => f(m, d as LabeledDataset, o as never),
});

export const ANALYSES: Record<string, AnalysisEntry> = {
  occlusion: withData(analyses.occlusion),
  frequency: withData(analyses.frequencyNoise),
  'fourier-heatmap': withData(analyses.fourierHeatmap),
  lesion: withData(analyses.lesion),
  'kernel-distance': { usesData: false, run: (m, _d, o) => analyses.kernelDistance(m, o as never) },
  'feature-variance': withData(analyses.featureVariance),
  erf: withData(analyses.erf),
  'attack-curve': withData(analyses.attackCurve),
};

export function analysisEntry(fn: string, name: unknown): AnalysisEntry {
  return ANALYSES[checkOneOf(fn, 'name', name, Object.keys(ANALYSES))];
}
