// Each suite's per-sample record (what a sample's logits reduce to, kept in the resume state) and its
// summary (the report's figures from all records). Records hold predictions, not correctness, so a
// report can be recomputed from merged states.
import {
  topClasses,
  maxSoftmax,
  maxLogit,
  auroc,
  averagePrecision,
  fprAtRecall,
  corruptionError,
  mean,
  flipProbability,
  top5Distance,
  backgroundGap,
  ALEXNET_CORRUPTION_ERRORS,
  EXTRA_CORRUPTIONS,
} from './metrics';
import { IMAGENET_A_WNIDS, IMAGENET_R_WNIDS, IMAGENET_O_WNIDS, IN_TO_IN9, subsetIndices } from './classes';
import { parsePerturbation, Sample, Subset } from './layouts';
import type { Figure, SampleResult } from './report';

export interface SuiteBaseline {
  /** ImageNet-C: mean error over severities per corruption (default AlexNet's). */
  errors?: Record<string, number>;
  /** ImageNet-P: the baseline's flip probability and top-5 distance per perturbation. */
  flipProbability?: Record<string, number>;
  top5Distance?: Record<string, number>;
}

export interface SummaryOptions {
  severity: number;
  difficulties: number[];
  baseline: SuiteBaseline;
}

/** A subset with each sample's record. */
export interface Evaluated {
  subset: Subset;
  results: SampleResult[];
}

export interface Summary {
  summary: Record<string, number | null>;
  figures: Figure[];
}

export interface SuiteKind {
  /** 'eval': resize then centre crop (photos); 'crop': centre crop only (the datasets published at 224). */
  transform: 'eval' | 'crop';
  /** A sample's record from its logit rows (one per file). */
  record(rows: Float32Array[], sample: Sample, subset: Subset): SampleResult;
  summarize(evaluated: Evaluated[], options: SummaryOptions): Summary;
}

// ---------------------------------------------------------------------------------------------------------

const fraction = (flags: boolean[]) => (flags.length ? flags.filter(Boolean).length / flags.length : null);

/** Groups a subset's samples (with their records) by class folder, in first-seen order. */
function byClass(e: Evaluated): Map<string, SampleResult[]> {
  const groups = new Map<string, SampleResult[]>();
  e.subset.samples.forEach((s, i) => {
    const g = groups.get(s.className) ?? [];
    g.push(e.results[i]);
    groups.set(s.className, g);
  });
  return groups;
}

/** Figures of per-record measures over each subset and each of its classes. */
function accuracyFigures(evaluated: Evaluated[], measures: Record<string, (r: SampleResult) => boolean>): Figure[] {
  const figures: Figure[] = [];
  const add = (subset: string, cls: string | null, records: SampleResult[]) => {
    for (const [metric, ok] of Object.entries(measures))
      figures.push({ subset, class: cls, metric, value: fraction(records.map(ok)), count: records.length });
  };
  for (const e of evaluated) {
    add(e.subset.name, null, e.results);
    for (const [cls, records] of byClass(e)) add(e.subset.name, cls, records);
  }
  return figures;
}

function figureValue(figures: Figure[], subset: string, metric: string): number | null {
  return figures.find((f) => f.subset === subset && f.class === null && f.metric === metric)?.value ?? null;
}

const top1 = (r: SampleResult) => r.pred === r.label;

// ---------------------------------------------------------------------------------------------------------

export const IMAGENET_VAL: SuiteKind = {
  transform: 'eval',
  record: ([row], sample) => ({ label: sample.label, top5: topClasses(row, 5) }),
  summarize(evaluated) {
    const figures = accuracyFigures(evaluated, {
      top1: (r) => (r.top5 as number[])[0] === r.label,
      top5: (r) => (r.top5 as number[]).includes(r.label as number),
    });
    return {
      summary: { top1: figureValue(figures, 'val', 'top1'), top5: figureValue(figures, 'val', 'top5') },
      figures,
    };
  },
};

/** ImageNet-A and -R: top-1 among the 200 classes' logits; labels index the 200. */
function classSubsetSuite(wnids: readonly string[], subsetName: string): SuiteKind {
  const columns = subsetIndices(wnids);
  return {
    transform: 'eval',
    record: ([row], sample) => ({ label: sample.label, pred: topClasses(row, 1, columns)[0] }),
    summarize(evaluated) {
      const figures = accuracyFigures(evaluated, { top1 });
      return { summary: { top1: figureValue(figures, subsetName, 'top1') }, figures };
    },
  };
}

export const IMAGENET_A = classSubsetSuite(IMAGENET_A_WNIDS, 'imagenet-a');
export const IMAGENET_R = classSubsetSuite(IMAGENET_R_WNIDS, 'imagenet-r');

const O_COLUMNS = subsetIndices(IMAGENET_O_WNIDS);
export const O_SUBSET = 'imagenet-o',
  IN_DISTRIBUTION_SUBSET = 'in-distribution';

/** ImageNet-O: anomalies are the positives, scored by minus the maximum softmax over the 200 classes
 * (MSP: aupr, auroc, fpr95) and by minus their maximum logit (MaxLogit: maxLogitAupr, ...). */
export const IMAGENET_O: SuiteKind = {
  transform: 'eval',
  record: ([row]) => ({ confidence: maxSoftmax(row, O_COLUMNS), maxLogit: maxLogit(row, O_COLUMNS) }),
  summarize(evaluated) {
    const msp: number[] = [],
      logit: number[] = [],
      positive: boolean[] = [];
    const figures: Figure[] = [];
    const meanOf = (field: string) => (records: SampleResult[]) => mean(records.map((r) => r[field] as number));
    // A run resumed from a state written before MaxLogit was recorded has no maxLogit: its figures are left out.
    const hasLogit = evaluated.every((e) => e.results.every((r) => typeof r.maxLogit === 'number'));
    const scored: [string, string][] = hasLogit
      ? [
          ['meanConfidence', 'confidence'],
          ['meanMaxLogit', 'maxLogit'],
        ]
      : [['meanConfidence', 'confidence']];
    for (const e of evaluated) {
      for (const r of e.results) {
        msp.push(-(r.confidence as number));
        logit.push(-(r.maxLogit as number));
        positive.push(e.subset.name === O_SUBSET);
      }
      for (const [metric, field] of scored) {
        figures.push({
          subset: e.subset.name,
          class: null,
          metric,
          value: meanOf(field)(e.results),
          count: e.results.length,
        });
        for (const [cls, records] of byClass(e))
          figures.push({
            subset: e.subset.name,
            class: cls,
            metric,
            value: meanOf(field)(records),
            count: records.length,
          });
      }
    }
    const both = positive.includes(true) && positive.includes(false);
    const detection = (scores: number[], ok = true) => ({
      aupr: both && ok ? averagePrecision(scores, positive) : null,
      auroc: both && ok ? auroc(scores, positive) : null,
      fpr95: both && ok ? fprAtRecall(scores, positive, 0.95) : null,
    });
    const ml = detection(logit, hasLogit);
    return {
      summary: { ...detection(msp), maxLogitAupr: ml.aupr, maxLogitAuroc: ml.auroc, maxLogitFpr95: ml.fpr95 },
      figures,
    };
  },
};

// ---------------------------------------------------------------------------------------------------------

export const IMAGENET_C: SuiteKind = {
  transform: 'crop',
  record: ([row], sample) => ({ label: sample.label, pred: topClasses(row, 1)[0] }),
  summarize(evaluated, { severity, baseline }) {
    const figures: Figure[] = [];
    // corruption -> severity -> records
    const groups = new Map<string, Map<number, Evaluated>>();
    for (const e of evaluated) {
      const [corruption, s] = e.subset.name.split('/');
      const g = groups.get(corruption) ?? new Map<number, Evaluated>();
      g.set(Number(s), e);
      groups.set(corruption, g);
    }
    const normalisers = { ...ALEXNET_CORRUPTION_ERRORS, ...(baseline.errors ?? {}) };
    const ces: number[] = [],
      atSeverity: number[] = [];
    for (const [corruption, bySeverity] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const errors: number[] = [];
      for (let s = 1; s <= 5; s++) {
        const e = bySeverity.get(s);
        if (!e) continue;
        const accuracy = fraction(e.results.map(top1)) as number;
        errors.push(1 - accuracy);
        figures.push({
          subset: e.subset.name,
          class: null,
          metric: 'error',
          value: 1 - accuracy,
          count: e.results.length,
        });
        if (s === severity) atSeverity.push(accuracy);
      }
      const all = [...bySeverity.values()];
      const records = all.flatMap((e) => e.results);
      figures.push({
        subset: corruption,
        class: null,
        metric: 'meanError',
        value: mean(errors),
        count: records.length,
      });
      const complete = errors.length === 5;
      const normaliser = normalisers[corruption];
      if (normaliser !== undefined && !EXTRA_CORRUPTIONS.includes(corruption)) {
        const ce = complete ? corruptionError(errors, normaliser) : null;
        if (ce !== null && corruption in ALEXNET_CORRUPTION_ERRORS) ces.push(ce);
        figures.push({ subset: corruption, class: null, metric: 'CE', value: ce, count: records.length });
      }
      // Per class: error over the severities present.
      const perClass = new Map<string, boolean[]>();
      for (const e of all)
        byClass(e).forEach((rs, cls) => perClass.set(cls, [...(perClass.get(cls) ?? []), ...rs.map(top1)]));
      for (const [cls, flags] of perClass)
        figures.push({
          subset: corruption,
          class: cls,
          metric: 'error',
          value: 1 - (fraction(flags) as number),
          count: flags.length,
        });
    }
    const standard = Object.keys(ALEXNET_CORRUPTION_ERRORS).length;
    return {
      summary: {
        // Over the 15 standard corruptions, so only when all of them are present at all severities.
        mCE: ces.length === standard ? mean(ces) : null,
        [`meanTop1AtSeverity${severity}`]: atSeverity.length ? mean(atSeverity) : null,
        corruptionsAtSeverity: atSeverity.length,
      },
      figures,
    };
  },
};

// ---------------------------------------------------------------------------------------------------------

export const IMAGENET_P: SuiteKind = {
  transform: 'crop',
  record: (rows, sample) => ({ label: sample.label, top5: rows.map((row) => topClasses(row, 5)) }),
  summarize(evaluated, { difficulties, baseline }) {
    const figures: Figure[] = [];
    // perturbation -> per difficulty [flip probability, top-5 distance]
    const measured = new Map<string, { fp: number[]; t5d: number[]; count: number }>();
    for (const e of evaluated) {
      const { perturbation, difficulty } = parsePerturbation(e.subset.name);
      const noise = perturbation.includes('noise');
      // Noise difficulties are separate folders; the others are strides over the same videos.
      const strides = noise || difficulty !== null ? [difficulty ?? 1] : difficulties;
      const videos = e.results.map((r) => r.top5 as number[][]);
      const m = measured.get(perturbation) ?? { fp: [], t5d: [], count: 0 };
      for (const d of strides) {
        const options = { noise, difficulty: d };
        const fp = flipProbability(
          videos.map((v) => v.map((frame) => frame[0])),
          options,
        );
        const t5d = top5Distance(videos, options);
        m.fp.push(fp);
        m.t5d.push(t5d);
        figures.push({
          subset: `${perturbation}/d${d}`,
          class: null,
          metric: 'flipProbability',
          value: fp,
          count: videos.length,
        });
        figures.push({
          subset: `${perturbation}/d${d}`,
          class: null,
          metric: 'top5Distance',
          value: t5d,
          count: videos.length,
        });
        for (const [cls, records] of byClass(e)) {
          const classVideos = records.map((r) => (r.top5 as number[][]).map((frame) => frame[0]));
          figures.push({
            subset: `${perturbation}/d${d}`,
            class: cls,
            metric: 'flipProbability',
            value: flipProbability(classVideos, options),
            count: records.length,
          });
        }
      }
      m.count += videos.length;
      measured.set(perturbation, m);
    }
    const rates: number[] = [],
      distances: number[] = [];
    const normalized = baseline.flipProbability !== undefined;
    for (const [perturbation, m] of [...measured].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const fp = mean(m.fp),
        t5d = mean(m.t5d);
      figures.push({ subset: perturbation, class: null, metric: 'flipProbability', value: fp, count: m.count });
      figures.push({ subset: perturbation, class: null, metric: 'top5Distance', value: t5d, count: m.count });
      const fr = normalized ? fp / baseline.flipProbability![perturbation] : fp;
      const t5r = baseline.top5Distance ? t5d / baseline.top5Distance[perturbation] : t5d;
      if (normalized)
        figures.push({ subset: perturbation, class: null, metric: 'flipRate', value: fr, count: m.count });
      if (baseline.top5Distance)
        figures.push({ subset: perturbation, class: null, metric: 'top5DistanceRate', value: t5r, count: m.count });
      rates.push(fr);
      distances.push(t5r);
    }
    return {
      summary: {
        mFR: mean(rates),
        mT5D: mean(distances),
        normalizedFR: normalized ? 1 : 0,
        normalizedT5D: baseline.top5Distance ? 1 : 0,
      },
      figures,
    };
  },
};

// ---------------------------------------------------------------------------------------------------------

/** ImageNet-9: the 1000-way prediction mapped to the 9 classes; an unmapped prediction is wrong. */
export const IMAGENET_9: SuiteKind = {
  transform: 'crop',
  record: ([row], sample) => ({ label: sample.label, pred: IN_TO_IN9[topClasses(row, 1)[0]] ?? -1 }),
  summarize(evaluated) {
    const figures = accuracyFigures(evaluated, { top1 });
    const acc = (variant: string) => figureValue(figures, variant, 'top1');
    const same = acc('mixed_same'),
      rand = acc('mixed_rand');
    return {
      summary: {
        original: acc('original'),
        mixed_same: same,
        mixed_rand: rand,
        bgGap: same !== null && rand !== null ? backgroundGap(same, rand) : null,
      },
      figures,
    };
  },
};
