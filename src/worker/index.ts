// Long library calls on worker threads: lkvit.background.{evaluate, attack, fit, evaluateSuite, analyze}.
export { Background, background } from './background';
export type { BackgroundData, BackgroundOptions } from './background';
export type { PoolOptions } from './pool';
export { evaluate } from './evaluate';
export type { EvaluateOptions, EvaluateResult } from './evaluate';
export type { ModelSpec, ModelRef } from './models';
export type { DatasetSource } from './datasets';
export { ANALYSES } from './analyses';
