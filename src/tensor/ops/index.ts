// ops.*: every differentiable op, named as PyTorch users expect. One file per family; each op
// validates its arguments, calls the native kernel and records its backward.
export * from './basic';
export * from './dwconv';
export * from './gemm';
export * from './conv';
export * from './attention';
export * from './norm';
export * from './nn';
export * from './steps';
