// The CUDA backend's front door: finds the CUDA addon, checks it, and says which backend runs.
// Two addons exist: build-cuda/Release/lkvit_cuda.node (nvcc, `npm run build:cuda`) and, for
// tests and CI only, build-cuda-emu/lkvit_cuda_emu.node (the same kernels over the SIMT emulation,
// `npm run build:cuda:emulated`), used only with LKVIT_CUDA_EMULATED=1. The addon is used only if
// it loads, reports a device and passes a one-kernel self test; otherwise info() says why.
// Device tensors (src/tensor/device.ts) compute through this addon.
import * as fs from 'fs';
import * as path from 'path';

export type CudaBackend = 'cuda' | 'cuda-emulated';

export interface CudaInfo {
  /** Whether CUDA kernels can run now. */
  available: boolean;
  /** The backend that would run them, or null when none loads. */
  backend: CudaBackend | null;
  /** Device name (or the emulation's description); null when unavailable. */
  device: string | null;
  /** Device memory in bytes; 0 for the emulation; null when unavailable. */
  totalMemory: number | null;
  /** Compute capability such as "9.0"; null when unavailable or emulated. */
  computeCapability: string | null;
  /** The addon file tried; null when none was found. */
  addon: string | null;
  /** Why CUDA is not available; null when it is. */
  reason: string | null;
  /** Which GEMM the device runs: cuBLAS (found at run time) or lkvit's tiled SGEMM, and why; null when unavailable. */
  gemm: string | null;
}

/** Device memory holding `length` float32 (or int32) elements, owned by this object: freed by
 * dispose() or, failing that, by the garbage collector (native/cuda/binding/args.h). */
export interface DeviceArray {
  readonly length: number;
  readonly disposed: boolean;
  dispose(): void;
  /** Copies a host array in, starting at element `offset`. */
  upload(src: Float32Array | Int32Array, offset?: number): void;
  /** Copies the whole array out (into dst when given). */
  download(dst?: Float32Array): Float32Array;
  copyFrom(src: DeviceArray): void;
  fill(value: number): void;
}

/** The caching allocator's counters, in bytes (native/cuda/memory.h). */
export interface CudaMemoryStats {
  /** Bytes in live device arrays. */
  allocated: number;
  /** Live plus cached bytes held from the device. */
  reserved: number;
  peakAllocated: number;
  cachedBlocks: number;
  /** cudaMalloc calls so far. */
  deviceAllocs: number;
}

type Strides = readonly number[];
type Arr = Float32Array | DeviceArray;

/** The CUDA addon: NativeAddon's compute functions over DeviceArrays (typed where the tensor
 * layer uses them, src/tensor/device.ts), plus memory and the general tensor kernels. */
export interface CudaAddon {
  DeviceArray: new (length: number) => DeviceArray;
  info(): {
    available: boolean;
    name: string | null;
    reason: string | null;
    totalMemory: number;
    computeCapability: string;
    gemm: string;
  };
  memoryStats(): CudaMemoryStats;
  emptyCache(): void;
  synchronize(): void;
  fgsmStep(x: Arr, g: Arr, eps: number, min: number, max: number, out: Arr): void;
  pgdL2Step(
    x: Arr,
    g: Arr,
    x0: Arr,
    N: number,
    eps: number,
    alpha: number,
    min: number,
    max: number,
    out: Arr,
    parts?: number,
  ): void;
  stridedCopy(
    src: Arr,
    srcOffset: number,
    srcStrides: Strides,
    dst: Arr,
    dstOffset: number,
    dstStrides: Strides,
    shape: Strides,
  ): void;
  binaryStrided(
    op: number,
    a: Arr,
    aOffset: number,
    aStrides: Strides,
    b: Arr,
    bOffset: number,
    bStrides: Strides,
    y: Arr,
    shape: Strides,
  ): void;
  reduceSum(
    x: Arr,
    xOffset: number,
    outShape: Strides,
    outStrides: Strides,
    redShape: Strides,
    redStrides: Strides,
    scale: number,
    y: Arr,
  ): void;
  [name: string]: unknown;
}

const root = path.join(__dirname, '..');
let loaded: { info: CudaInfo; addon: CudaAddon | null } | null = null;

function addonPath(): { file: string; backend: CudaBackend; build: string } {
  if (process.env.LKVIT_CUDA_EMULATED === '1') {
    const file = process.env.LKVIT_CUDA_EMULATED_ADDON || path.join(root, 'build-cuda-emu', 'lkvit_cuda_emu.node');
    return { file, backend: 'cuda-emulated', build: 'npm run build:cuda:emulated' };
  }
  // A local build first, then the binary the package ships (native/cuda/prebuild.js).
  const local = path.join(root, 'build-cuda', 'Release', 'lkvit_cuda.node');
  const shipped = path.join(root, 'prebuilds', `cuda-${process.platform}-${process.arch}`, 'lkvit_cuda.node');
  const file = fs.existsSync(local) || !fs.existsSync(shipped) ? local : shipped;
  return { file, backend: 'cuda', build: 'npm run build:cuda (needs nvcc)' };
}

// One small FGSM step whose result is known exactly.
function selfTest(addon: CudaAddon): string | null {
  const x = Float32Array.from([0.5, 0.25, 0.98, 0.02]);
  const g = Float32Array.from([1, -2, 3, 0]);
  const out = new Float32Array(4);
  addon.fgsmStep(x, g, 0.125, 0, 1, out);
  const want = [0.625, 0.125, 1, 0.02];
  for (let i = 0; i < 4; i++)
    if (out[i] !== Math.fround(want[i]))
      return `self test: fgsmStep gave [${Array.from(out).join(', ')}], expected [${want.join(', ')}]`;
  return null;
}

function load(): { info: CudaInfo; addon: CudaAddon | null } {
  if (loaded) return loaded;
  const { file, backend, build } = addonPath();
  const none = (reason: string, addon: string | null): CudaInfo => ({
    available: false,
    backend: null,
    device: null,
    totalMemory: null,
    computeCapability: null,
    addon,
    reason,
    gemm: null,
  });
  if (!fs.existsSync(file)) {
    loaded = {
      info: none(`the ${backend} addon is not built (${path.relative(root, file)} is missing; run \`${build}\`)`, null),
      addon: null,
    };
    return loaded;
  }
  let addon: CudaAddon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(file) as CudaAddon;
  } catch (e) {
    loaded = { info: none(`the ${backend} addon failed to load: ${(e as Error).message}`, file), addon: null };
    return loaded;
  }
  const d = addon.info();
  if (!d.available) {
    loaded = { info: none(d.reason || 'no CUDA device', file), addon: null };
    return loaded;
  }
  let failure: string | null;
  try {
    failure = selfTest(addon);
  } catch (e) {
    failure = `self test failed: ${(e as Error).message}`;
  }
  if (failure) {
    loaded = { info: none(failure, file), addon: null };
    return loaded;
  }
  loaded = {
    info: {
      available: true,
      backend,
      device: d.name,
      totalMemory: d.totalMemory,
      computeCapability: backend === 'cuda' ? d.computeCapability : null,
      addon: file,
      reason: null,
      gemm: d.gemm,
    },
    addon,
  };
  return loaded;
}

/** Whether a CUDA backend (real, or emulated under LKVIT_CUDA_EMULATED=1) is ready. */
export function available(): boolean {
  return load().info.available;
}

/** Which CUDA backend runs, on what device, or why none does. */
export function info(): CudaInfo {
  return { ...load().info };
}

/** The loaded CUDA addon (for the tests and the coming device ops); throws with the reason when unavailable. */
export function nativeCuda(): CudaAddon {
  const l = load();
  if (!l.addon) throw new Error(`lkvit: CUDA is not available: ${l.info.reason}`);
  return l.addon;
}

/** The caching allocator's counters (bytes in live device tensors, bytes held, peak). */
export function memoryStats(): CudaMemoryStats {
  return nativeCuda().memoryStats();
}

/** Returns the allocator's cached blocks to the device (live tensors are untouched). */
export function emptyCache(): void {
  nativeCuda().emptyCache();
}

/** Waits for every kernel launched so far; an asynchronous kernel fault is thrown here. */
export function synchronize(): void {
  nativeCuda().synchronize();
}
