// Loads the compiled addon: a prebuilt binary from prebuilds/ when one matches, else the
// source build in build/Release (node-gyp-build decides). NativeAddon is the addon's one typed
// boundary: every function with its arguments as the binding files (native/binding/*.cc) read them.
import * as path from 'path';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- node-gyp-build has no types or ES export
const load: (dir: string) => unknown = require('node-gyp-build');

/** Dense / grouped conv2d geometry, in the binding's order (native/binding/conv.cc). */
export type Conv2dGeometry = [
  n: number,
  cin: number,
  h: number,
  w: number,
  cout: number,
  kh: number,
  kw: number,
  strideH: number,
  strideW: number,
  padH: number,
  padW: number,
  dilationH: number,
  dilationW: number,
  groups: number,
];
/** Depthwise conv2d geometry (native/binding/dwconv.cc). */
export type Dwconv2dGeometry = [
  N: number,
  C: number,
  H: number,
  W: number,
  KH: number,
  KW: number,
  strideH: number,
  strideW: number,
  padH: number,
  padW: number,
];
/** 2-D pooling geometry (native/binding/nn.cc): planes = N * C. */
export type Pool2dGeometry = [
  planes: number,
  H: number,
  W: number,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  ph: number,
  pw: number,
];
/** The instruction-set paths of the CPU kernels. */
export type NativeIsa = 'generic' | 'avx2' | 'avx512';
/** Codes of the native elementwise arithmetic (lk::ArithOp in native/cpu/nn.h). */
export interface ArithOps {
  readonly add: number;
  readonly sub: number;
  readonly mul: number;
  readonly scale: number;
}

/** The raw addon: each function checks every length against the dims and throws
 * `lkvit native: <function>: ...` on bad input. Outputs are caller-allocated and overwritten.
 * The CUDA addon (src/cuda.ts) exports the compute functions with the same arguments, taking
 * DeviceArrays: NativeAddon<Storage, ...> is the type both share (src/tensor/device.ts). */
export interface NativeAddon<F32 = Float32Array, I32 = Int32Array> {
  // ---- constants
  /** True when the addon tuned glibc's malloc thresholds at load (native/binding/core.cc). */
  readonly mallocTuned: boolean;
  /** The largest depthwise kernel side (KH, KW) the kernels take. */
  readonly maxDepthwiseKernel: number;
  /** The largest depthwise padding (padH, padW). */
  readonly maxDepthwisePadding: number;
  readonly arithOps: ArithOps;
  // ---- core (threads, instruction set) and the yardstick (peak.cc)
  getNumThreads(): number;
  setNumThreads(threads: number): void;
  getIsa(): { active: NativeIsa; best: NativeIsa };
  setIsa(isa: NativeIsa): void;
  measureFmaPeak(threads: number, seconds: number, repeats: number): number;
  measureBandwidth(threads: number, bytesPerArray: number, repeats: number): number;
  fmaLanes(): number;
  // ---- gemm: C = alpha op(A) op(B) + beta C
  gemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: F32,
    lda: number,
    B: F32,
    ldb: number,
    beta: number,
    C: F32,
    ldc: number,
  ): void;
  gemmBatched(
    transA: boolean,
    transB: boolean,
    batch: number,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: F32,
    lda: number,
    strideA: number,
    B: F32,
    ldb: number,
    strideB: number,
    beta: number,
    C: F32,
    ldc: number,
    strideC: number,
  ): void;
  // ---- conv
  conv2dForward(x: F32, weight: F32, bias: F32 | null, y: F32, ...geometry: Conv2dGeometry): void;
  conv2dBackwardInput(gradY: F32, weight: F32, gradX: F32, ...geometry: Conv2dGeometry): void;
  conv2dBackwardWeight(gradY: F32, x: F32, gradWeight: F32, ...geometry: Conv2dGeometry): void;
  conv2dBackwardBias(gradY: F32, gradBias: F32, n: number, cout: number, oh: number, ow: number): void;
  // ---- dwconv
  dwconv2dForward(x: F32, weight: F32, bias: F32 | null, y: F32, ...geometry: Dwconv2dGeometry): void;
  dwconv2dBackwardInput(gradY: F32, weight: F32, gradX: F32, ...geometry: Dwconv2dGeometry): void;
  dwconv2dBackwardWeight(gradY: F32, x: F32, gradWeight: F32, ...geometry: Dwconv2dGeometry): void;
  // ---- attention
  attentionForward(
    B: number,
    H: number,
    Tq: number,
    Tk: number,
    d: number,
    dv: number,
    scale: number,
    q: F32,
    k: F32,
    v: F32,
    out: F32,
    lse: F32,
    probs: F32 | null,
  ): void;
  attentionBackward(
    B: number,
    H: number,
    Tq: number,
    Tk: number,
    d: number,
    dv: number,
    scale: number,
    q: F32,
    k: F32,
    v: F32,
    out: F32,
    lse: F32,
    gradOut: F32,
    gradQ: F32 | null,
    gradK: F32 | null,
    gradV: F32 | null,
  ): void;
  // ---- norm: x [N, C, S]; absent weight / bias / running stats and unwanted gradients are null
  batchNorm2dForward(
    x: F32,
    N: number,
    C: number,
    S: number,
    weight: F32 | null,
    bias: F32 | null,
    training: boolean,
    eps: number,
    momentum: number,
    runningMean: F32 | null,
    runningVar: F32 | null,
    y: F32,
    mean: F32,
    rstd: F32,
  ): void;
  batchNorm2dBackward(
    x: F32,
    g: F32,
    N: number,
    C: number,
    S: number,
    weight: F32 | null,
    mean: F32,
    rstd: F32,
    training: boolean,
    gx: F32 | null,
    gweight: F32 | null,
    gbias: F32 | null,
  ): void;
  groupNormForward(
    x: F32,
    N: number,
    C: number,
    S: number,
    G: number,
    weight: F32 | null,
    bias: F32 | null,
    eps: number,
    y: F32,
    mean: F32,
    rstd: F32,
  ): void;
  groupNormBackward(
    x: F32,
    g: F32,
    N: number,
    C: number,
    S: number,
    G: number,
    weight: F32 | null,
    mean: F32,
    rstd: F32,
    gx: F32 | null,
    gweight: F32 | null,
    gbias: F32 | null,
  ): void;
  layerNorm2dForward(
    x: F32,
    N: number,
    C: number,
    S: number,
    weight: F32 | null,
    bias: F32 | null,
    eps: number,
    y: F32,
    mean: F32,
    rstd: F32,
  ): void;
  layerNorm2dBackward(
    x: F32,
    g: F32,
    N: number,
    C: number,
    S: number,
    weight: F32 | null,
    mean: F32,
    rstd: F32,
    gx: F32 | null,
    gweight: F32 | null,
    gbias: F32 | null,
  ): void;
  // ---- nn: elementwise, activations, softmax / cross-entropy, pooling
  arith(op: number, a: F32, b: F32 | null, s: number, y: F32): void;
  reluForward(x: F32, y: F32): void;
  reluBackward(x: F32, g: F32, gx: F32): void;
  geluForward(x: F32, y: F32): void;
  geluBackward(x: F32, g: F32, gx: F32): void;
  softmaxForward(x: F32, outer: number, L: number, inner: number, log: boolean, y: F32): void;
  softmaxBackward(y: F32, g: F32, outer: number, L: number, inner: number, log: boolean, gx: F32): void;
  crossEntropyForward(logits: F32, labels: I32, N: number, K: number, smoothing: number, loss: F32, lse: F32): void;
  crossEntropyBackward(
    logits: F32,
    labels: I32,
    N: number,
    K: number,
    smoothing: number,
    lse: F32,
    gloss: F32,
    gx: F32,
  ): void;
  globalAvgPool2dForward(x: F32, planes: number, S: number, y: F32): void;
  globalAvgPool2dBackward(g: F32, planes: number, S: number, gx: F32): void;
  maxPool2dForward(x: F32, ...rest: [...Pool2dGeometry, y: F32, argmax: I32]): void;
  maxPool2dBackward(g: F32, argmax: I32, ...rest: [...Pool2dGeometry, gx: F32]): void;
  avgPool2dForward(x: F32, ...rest: [...Pool2dGeometry, y: F32]): void;
  avgPool2dBackward(g: F32, ...rest: [...Pool2dGeometry, gx: F32]): void;
  // ---- steps: out = the stepped x, clamped to [min, max]
  fgsmStep(x: F32, g: F32, eps: number, min: number, max: number, out: F32): void;
  pgdLinfStep(x: F32, g: F32, x0: F32, eps: number, alpha: number, min: number, max: number, out: F32): void;
  pgdL2Step(x: F32, g: F32, x0: F32, N: number, eps: number, alpha: number, min: number, max: number, out: F32): void;
}

/** Any native function, as the profiler wraps them. */
export type NativeFn = (...args: any[]) => unknown;

let addon: NativeAddon;
try {
  addon = load(path.join(__dirname, '..')) as NativeAddon;
} catch (e) {
  throw new Error(loadFailureMessage((e as Error).message), { cause: e });
}

// The C library, as prebuildify's --tag-libc names it: glibc reports its version, musl (Alpine) does not.
function libc(): string {
  if (process.platform !== 'linux') return '';
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

/** What to do when the addon does not load: which binary was looked for, and how to get one. */
export function loadFailureMessage(reason: string): string {
  const platform = `${process.platform}-${process.arch}${libc() ? ` (${libc()})` : ''}`;
  const prebuilt = process.platform === 'linux' && process.arch === 'x64' && libc() === 'glibc';
  return (
    `lkvit: the native addon could not be loaded on ${platform} (${reason}). ` +
    (prebuilt
      ? 'The package carries a prebuilt binary for this platform (prebuilds/linux-x64): reinstall it (`npm install lkvit`, or `npm ci`) if prebuilds/ is missing or damaged. '
      : 'The package carries prebuilt binaries for linux-x64 with glibc only; here (musl/Alpine, macOS, Windows, arm64, ...) the install compiles the addon from source instead. ') +
    'To compile it: install python3, make and a C++17 compiler (Debian/Ubuntu: apt-get install python3 make g++; Alpine: apk add python3 make g++), ' +
    'then run `npm rebuild lkvit` in your project, or `npm run build` in a clone of lkvit.'
  );
}

/** The raw addon. Ops call it after validating their arguments; users should not need it. */
export const native: NativeAddon = addon;

/** The same addon as a table of functions by name, for code that walks or replaces them all
 * (the profiler). */
export const nativeTable = addon as unknown as Record<string, NativeFn>;
