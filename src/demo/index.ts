// lkvit demo as a library: the MNIST split, the three models, the pipeline and its report.
export { runDemo } from './run';
export type { DemoOptions, DemoProgress, DemoResult } from './run';
export { mnistSplit, readMnistDigits, splitIndices, paddedRgb, MNIST_MEAN, MNIST_STD, MNIST_IMAGE_SIZE } from './mnist';
export type { MnistSplit, MnistSplitOptions, MnistDigits } from './mnist';
export { DEMO_MODELS, buildDemoModel, LARGE_KERNEL_CONFIG, SMALL_KERNEL_CONFIG, VIT_CONFIG } from './models';
export type { DemoModelSpec } from './models';
export { randomShift } from './augment';
export { DEFAULT_SETTINGS, QUICK_SETTINGS, demoSettings } from './settings';
export type { DemoSettings } from './settings';
export { summaryTable, summaryRows, writeReport, indexHtml } from './report';
export type { DemoReport, DemoModelReport, SummaryRow } from './report';
