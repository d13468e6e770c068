// Where a tensor's values live, and the backend that computes on them. A CPU tensor holds a
// Float32Array; a CUDA tensor holds a DeviceArray (device memory owned by a JS object, from the
// CUDA addon, src/cuda.ts). Both addons export the same functions with the same arguments
// (src/native.ts's NativeAddon), so an op picks the backend of its inputs and runs one code path:
//   const B = backendOf(OP, x, weight);  const y = B.empty(n);  B.native.dwconv2dForward(x.storage, ...)
// What the CPU side does in TypeScript (shape ops, broadcasting, reductions) the CUDA addon does
// with three general kernels (stridedCopy, binaryStrided, reduceSum): see ops/basic.ts.
import { native, NativeAddon } from '../native';
import { nativeCuda, CudaAddon, DeviceArray } from '../cuda';

export type Device = 'cpu' | 'cuda';
export type { DeviceArray };
/** A tensor's values: host memory on the CPU, device memory on CUDA. */
export type Storage = Float32Array | DeviceArray;

export interface Backend {
  readonly device: Device;
  /** The addon of this device; its array arguments take this device's storage. */
  readonly native: NativeAddon<Storage, Int32Array | DeviceArray>;
  /** n elements the caller will overwrite completely (uninitialised). */
  empty(n: number): Storage;
  /** n zeros. */
  zeros(n: number): Storage;
}

const DEVICES: readonly Device[] = ['cpu', 'cuda'];

/** Validates a device name: 'cpu' or 'cuda' (also 'cuda:0'). */
export function checkDevice(op: string, name: string, value: unknown): Device {
  if (value === 'cuda:0') return 'cuda';
  if (typeof value === 'string' && (DEVICES as readonly string[]).includes(value)) return value as Device;
  const shown = typeof value === 'string' ? `'${value}'` : String(value);
  throw (typeof value === 'string' ? RangeError : TypeError).call(
    null,
    `${op}: ${name} must be 'cpu' or 'cuda', got ${shown}`,
  ) as Error;
}

let cpuEmpty: (n: number) => Float32Array = (n) => new Float32Array(n);
/** @internal tensor.ts hands over its allocator (NaN-poisoned under the tests). */
export function setCpuEmpty(fn: (n: number) => Float32Array): void {
  cpuEmpty = fn;
}

export const cpuBackend: Backend = {
  device: 'cpu',
  native: native as unknown as NativeAddon<Storage, Int32Array | DeviceArray>,
  empty: (n) => cpuEmpty(n),
  zeros: (n) => new Float32Array(n),
};

let cudaBackendCache: (Backend & { addon: CudaAddon }) | null = null;

/** The CUDA backend; throws with the reason when CUDA is not available. */
export function cudaBackend(): Backend & { addon: CudaAddon } {
  if (cudaBackendCache) return cudaBackendCache;
  const addon = nativeCuda();
  cudaBackendCache = {
    device: 'cuda',
    native: addon as unknown as NativeAddon<Storage, Int32Array | DeviceArray>,
    addon,
    empty: (n) => new addon.DeviceArray(n),
    zeros: (n) => {
      const a = new addon.DeviceArray(n);
      a.fill(0);
      return a;
    },
  };
  return cudaBackendCache;
}

export function backendFor(device: Device): Backend {
  return device === 'cpu' ? cpuBackend : cudaBackend();
}

/** The one device of an op's tensor arguments (null/undefined ones are skipped); mixing devices
 * is an error naming both. */
export function backendOf(op: string, ...tensors: ({ device: Device } | null | undefined)[]): Backend {
  let device: Device | null = null;
  let first = -1;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    if (!t) continue;
    if (device === null) {
      device = t.device;
      first = i;
    } else if (t.device !== device)
      throw new TypeError(
        `${op}: all tensors must be on one device, got argument ${first + 1} on ${device} and argument ${i + 1} on ${t.device} (move them with .to('${device}'))`,
      );
  }
  return device === 'cuda' ? cudaBackend() : cpuBackend;
}

/** Whether s is host memory. */
export function isHost(s: Storage): s is Float32Array {
  return s instanceof Float32Array;
}
