// lkvit demo as a library: the MNIST split, the three models, the pipeline over seeds and its report.
export { runDemo, demoSeeds } from './run';
export type { DemoOptions, DemoProgress, DemoResult } from './run';
export { mnistSplit, readMnistDigits, splitIndices, paddedRgb, MNIST_MEAN, MNIST_STD, MNIST_IMAGE_SIZE } from './mnist';
export type { MnistSplit, MnistSplitOptions, MnistDigits } from './mnist';
export { DEMO_MODELS, buildDemoModel, LARGE_KERNEL_CONFIG, SMALL_KERNEL_CONFIG, VIT_CONFIG } from './models';
export type { DemoModelSpec } from './models';
export { randomShift } from './augment';
export { DEFAULT_SETTINGS, QUICK_SETTINGS, DEFAULT_SEEDS, QUICK_SEEDS, demoSettings } from './settings';
export type { DemoSettings } from './settings';
export { greyOf, attackedModel } from './perturb';
export type { Perturbation } from './perturb';
export { pairedComparison, spread, tTwoSided, tCritical } from './stats';
export type { Spread, PairedComparison } from './stats';
export { summaryTable, writeReport, indexHtml } from './report';
export type { DemoReport } from './report';
export type { SeedRun, SummaryRow, ComparisonRow } from './summary';
