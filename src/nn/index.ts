// src/nn: modules, layers and state-dict loading, over the tensor ops.
export { Module, Layer, StateDictError } from './module';
export type { LoadReport, ShapeMismatch, StateEntry, StateDictLike } from './module';
export { Conv2d, StdConv2d, Linear, Mlp, BatchNorm2d, LayerNorm, GroupNorm, conv2dWith } from './layers';
export type { Conv2dOptions } from './layers';
export { Sequence, ModuleList } from './containers';
export { ConvBN, foldBatchNorm } from './conv_bn';
export { manualSeed, withoutInit, uniformParameter } from './init';
export { saveWeights } from './serialize';
export { DropPath, reseedDropPaths, dropPathRates } from './drop_path';
export { bicubicResize } from './interpolate';
