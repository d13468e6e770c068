// Tensor: contiguous row-major float32 values plus a shape, and the reverse-mode autograd tape.
// The values live on a device (device.ts): a Float32Array on the CPU, a DeviceArray on CUDA.
// Every op records (inputs, backward) on its output when gradients are wanted; backward() walks
// the recorded graph in reverse topological order and frees it afterwards.

import { constants as bufferConstants } from 'buffer';
import { Device, Storage, DeviceArray, isHost, backendFor, checkDevice, setCpuEmpty, cudaBackend } from './device';

export type Shape = readonly number[];

/** Computes the input gradients of one op from its output gradient. `needs[i]` says whether
 * input i wants a gradient; entries for inputs that don't may be null. Gradients live on the
 * device of the op (S: Float32Array for CPU-only ops, Storage for ops on every device). */
export type BackwardFn<S extends Storage = Float32Array> = (gradOut: S, needs: readonly boolean[]) => (S | null)[];

interface Node {
  op: string;
  inputs: Tensor[];
  backward: BackwardFn<Storage>;
}

let gradEnabled = true;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const basicOps = (): typeof import('./ops/basic') => require('./ops/basic');

/** Runs fn with gradient recording off (no graph is built), like torch.no_grad(). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    const r = fn();
    if (r instanceof Promise) throw new TypeError('noGrad: fn must be synchronous (got a Promise)');
    return r;
  } finally {
    gradEnabled = prev;
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** The most elements one tensor may hold: 2^31 - 1 (8 GiB of float32), so every flat index fits
 * the Int32Arrays that broadcasting, pooling and labels use. Zeros aside, a shape's dims must
 * multiply to at most this too, so loops over the other dims of an empty tensor stay bounded. */
export const MAX_NUMEL = 2 ** 31 - 1;

function countString(n: number): string {
  const log2 = Math.log2(n);
  return Number.isInteger(log2) && n > 2 ** 20 ? `2^${log2}` : n < 1e15 ? String(n) : n.toExponential(2);
}

/** Validates a shape (an array of non-negative integers within MAX_NUMEL) and returns its
 * element count. `what` names it in the message ("output", "shape"), `cause` the arguments that
 * made it so large ("padding [1048576, ...]"). */
export function checkShape(op: string, what: string, shape: unknown, cause = ''): number {
  if (!Array.isArray(shape))
    throw new TypeError(`${op}: ${what} must be an array of non-negative integers, got ${typeof shape}`);
  let nonzero = 1,
    empty = false;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0)
      throw new TypeError(`${op}: ${what} must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    if (d === 0) empty = true;
    else nonzero *= d;
  }
  if (nonzero > MAX_NUMEL) {
    const count = empty
      ? `dims other than 0 that multiply to ${countString(nonzero)}`
      : `${countString(nonzero)} elements`;
    throw new RangeError(
      `${op}: ${what} ${shapeString(shape as number[])} would have ${count} (limit 2^31 - 1 per tensor)${cause && `, from ${cause}`}`,
    );
  }
  return empty ? 0 : nonzero;
}

// LKVIT_POISON_EMPTY=1 (set by the test suite) fills uninitialised outputs with NaN, so a kernel
// that fails to write every element of an output it promises to overwrite fails its tests.
const poisonEmpty = process.env.LKVIT_POISON_EMPTY === '1';
const maxBufferBytes = bufferConstants.MAX_LENGTH;

/** An output array a kernel will overwrite completely: uninitialised memory, no zero fill.
 * Small arrays use the ordinary (zeroed) allocation, which is cheaper at that size. */
export function empty(n: number): Float32Array {
  // Past Buffer's limit (2^32 bytes on Node 20) an ordinary allocation still works.
  if (n < 4096 || n * 4 > maxBufferBytes) return poisonEmpty ? new Float32Array(n).fill(NaN) : new Float32Array(n);
  const b = Buffer.allocUnsafeSlow(n * 4);
  const a = new Float32Array(b.buffer, b.byteOffset, n);
  if (poisonEmpty) a.fill(NaN);
  return a;
}
setCpuEmpty(empty);

export class Tensor {
  readonly shape: Shape;
  /** Row-major values on the tensor's device. */
  private _storage: Storage;
  private readonly _size: number;
  requiresGrad: boolean;
  /** Accumulated gradient (leaf tensors with requiresGrad only), like PyTorch's .grad. */
  grad: Tensor | null = null;
  /** @internal the op that produced this tensor, while a graph is recorded */
  node: Node | null = null;

  constructor(data: Storage, shape: Shape, requiresGrad = false) {
    if (!(data instanceof Float32Array) && !isDeviceArray(data))
      throw new TypeError(`Tensor: data must be a Float32Array, got ${describeValue(data)}`);
    const n = checkShape('Tensor', 'shape', shape);
    if (n !== data.length)
      throw new RangeError(
        `Tensor: shape ${shapeString(shape)} needs ${n} values, ${isHost(data) ? holds(data) : `the DeviceArray has ${data.length}`}`,
      );
    if (!isHost(data) && data.disposed) throw new TypeError('Tensor: the DeviceArray was disposed');
    this._storage = data;
    this._size = n;
    this.shape = Object.freeze(shape.slice());
    this.requiresGrad = requiresGrad;
  }

  /** Row-major host values, shared (not copied) with the array given to tensor(). Only CPU
   * tensors have them: a CUDA tensor's values are read with toArray() or .to('cpu'). */
  get data(): Float32Array {
    const s = this._storage;
    if (isHost(s)) return s;
    throw new TypeError(
      `Tensor ${shapeString(this.shape)} is on cuda: .data is host memory; read it with .toArray() or move it with .to('cpu')`,
    );
  }
  /** Replaces a CPU tensor's values array (ops check its length against the shape). */
  set data(v: Float32Array) {
    if (!(v instanceof Float32Array))
      throw new TypeError(`Tensor: data must be a Float32Array, got ${describeValue(v)}`);
    if (!isHost(this._storage))
      throw new TypeError(`Tensor ${shapeString(this.shape)} is on cuda: move it with .to('cpu') to assign .data`);
    this._storage = v;
  }
  /** The values on the tensor's device (a Float32Array or a DeviceArray). */
  get storage(): Storage {
    const s = this._storage;
    if (!isHost(s) && s.disposed)
      throw new TypeError(
        `Tensor ${shapeString(this.shape)} on cuda was disposed (dispose() frees its memory; it cannot be used afterwards)`,
      );
    return s;
  }
  /** Whether dispose() freed this CUDA tensor's memory (always false on the CPU). */
  get disposed(): boolean {
    const s = this._storage;
    return !isHost(s) && s.disposed;
  }
  /** 'cpu' or 'cuda'. */
  get device(): Device {
    return isHost(this._storage) ? 'cpu' : 'cuda';
  }

  get size(): number {
    return this._size;
  }
  get ndim(): number {
    return this.shape.length;
  }
  /** True for tensors made by the user rather than by an op. */
  get isLeaf(): boolean {
    return this.node === null;
  }

  /** A tensor sharing this one's data, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape, false);
  }

  /** A copy of the values on the same device, cut from the graph. */
  clone(): Tensor {
    const s = this.storage;
    if (isHost(s)) return new Tensor(s.slice(), this.shape, false);
    const c = cudaBackend().empty(s.length) as DeviceArray;
    c.copyFrom(s);
    return new Tensor(c, this.shape, false);
  }

  /** Value of a one-element tensor (copied from the device for a CUDA tensor). */
  item(): number {
    if (this.size !== 1)
      throw new RangeError(`item: tensor must hold exactly one value, shape is ${shapeString(this.shape)}`);
    return this.toArray()[0];
  }

  /** The values as a host Float32Array: the tensor's own array on the CPU, a fresh copy from CUDA. */
  toArray(): Float32Array {
    const s = this.storage;
    return isHost(s) ? s : s.download();
  }

  /** This tensor on `device` ('cpu' or 'cuda'): itself when it is there already, else a copy that
   * gradients flow back through, like PyTorch's .to(). */
  to(device: Device | 'cuda:0'): Tensor {
    const d = checkDevice('to', 'device', device);
    if (d === this.device) return this;
    const s = this.storage;
    const copy = (from: Storage, on: Device): Storage => {
      if (on === 'cpu') return (from as DeviceArray).download();
      const a = cudaBackend().empty(from.length) as DeviceArray;
      a.upload(from as Float32Array);
      return a;
    };
    const from = this.device;
    return record<Storage>('to', copy(s, d), this.shape, [this], (g) => [copy(g, from)]);
  }

  /** @internal Moves a leaf's values to `device` in place, keeping this Tensor object (what
   * Module.to does for parameters and buffers, which layers hold by reference). */
  relocate(device: Device): void {
    if (this.node) throw new Error('internal: relocate of a tensor inside a recorded graph');
    if (device === this.device) return;
    const s = this.storage;
    if (device === 'cpu') {
      this._storage = (s as DeviceArray).download();
      (s as DeviceArray).dispose();
    } else {
      const a = cudaBackend().empty(s.length) as DeviceArray;
      a.upload(s as Float32Array);
      this._storage = a;
    }
    if (this.grad) {
      const g = this.grad;
      this.grad = null;
      g.relocate(device);
      this.grad = g;
    }
  }

  /** Frees a CUDA tensor's device memory now instead of at garbage collection; the tensor (and
   * views of the same memory: detach(), reshape()) cannot be used afterwards. A no-op on the CPU. */
  dispose(): void {
    const s = this._storage;
    if (!isHost(s)) s.dispose();
  }

  // Shorthands for the shape and reduction ops (ops/basic.ts), loaded lazily: basic imports this file.
  sum(dim?: number, keepdim = false): Tensor {
    return basicOps().sum(this, dim, keepdim);
  }
  mean(dim?: number, keepdim = false): Tensor {
    return basicOps().mean(this, dim, keepdim);
  }
  reshape(shape: number[]): Tensor {
    return basicOps().reshape(this, shape);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return basicOps().transpose(this, dim0, dim1);
  }
  permute(dims: number[]): Tensor {
    return basicOps().permute(this, dims);
  }
  slice(dim: number, start: number, end: number): Tensor {
    return basicOps().slice(this, dim, start, end);
  }

  toString(): string {
    return `Tensor(${shapeString(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  /** Reverse-mode autodiff from this tensor. gradOutput defaults to 1 for a one-element tensor;
   * a host array or a tensor on another device is moved to this tensor's device. */
  backward(gradOutput?: Tensor | Float32Array): void {
    let g: Storage;
    if (gradOutput === undefined) {
      if (this.size !== 1)
        throw new RangeError(
          `backward: gradOutput is required for a tensor of shape ${shapeString(this.shape)} (only one-element tensors default to 1)`,
        );
      g = new Float32Array([1]);
    } else {
      g = gradOutput instanceof Tensor ? gradOutput.storage : gradOutput;
      if (!(g instanceof Float32Array) && !isDeviceArray(g))
        throw new TypeError('backward: gradOutput must be a Tensor or a Float32Array');
      if (g.length !== this.size)
        throw new RangeError(
          `backward: gradOutput must hold ${this.size} values (shape ${shapeString(this.shape)}), got ${g.length}`,
        );
    }
    if (!this.requiresGrad)
      throw new TypeError('backward: this tensor does not require grad (no input of its graph has requiresGrad)');
    if (this.device === 'cuda' && isHost(g)) {
      const d = cudaBackend().empty(g.length) as DeviceArray;
      d.upload(g);
      g = d;
    } else if (this.device === 'cpu' && !isHost(g)) g = g.download();
    runBackward(this, g);
  }
}

// Topological order of the recorded graph below `root` (iterative: graphs can be deep).
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node ? t.node.inputs : [];
    if (i < inputs.length) {
      top[1]++;
      const c = inputs[i];
      if (c.requiresGrad && !seen.has(c)) {
        seen.add(c);
        stack.push([c, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order.reverse();
}

// into += g; long arrays natively (threads, SIMD: the same one addition per element), device
// arrays by the CUDA addon's arith.
function accumulate(into: Storage, g: Storage): void {
  if (isHost(into) && isHost(g)) {
    if (into.length >= 4096) backendFor('cpu').native.arith(arithAdd(), into, g, 0, into);
    else for (let i = 0; i < into.length; i++) into[i] += g[i];
    return;
  }
  if (isHost(into) || isHost(g)) throw new Error('internal: a gradient on another device than its tensor');
  const B = cudaBackend();
  B.native.arith(arithAdd(), into, g, 0, into);
}

let arithAddCode: number | null = null;
function arithAdd(): number {
  if (arithAddCode === null)
    arithAddCode = (backendFor('cpu').native as unknown as { arithOps: { add: number } }).arithOps.add;
  return arithAddCode;
}

function copyOf(a: Storage): Storage {
  if (isHost(a)) return a.slice();
  const c = cudaBackend().empty(a.length) as DeviceArray;
  c.copyFrom(a);
  return c;
}

function isDeviceArray(v: unknown): v is DeviceArray {
  return (
    typeof v === 'object' &&
    v !== null &&
    v.constructor?.name === 'DeviceArray' &&
    typeof (v as DeviceArray).download === 'function'
  );
}

function runBackward(root: Tensor, g: Storage): void {
  const order = topoOrder(root);
  const grads = new Map<Tensor, Storage>();
  // Gradient arrays are passed along without copies; an array may be mutated (accumulated into,
  // or become a leaf's .grad) only when this pass made it and nothing else holds it. The caller's
  // gradOutput, or an op passing its output gradient straight through (reshape), is copied first.
  const seen = new Set<Storage>([g, root.storage]);
  const exclusive = new Set<Storage>();
  const store = (x: Tensor, a: Storage): void => {
    if (!seen.has(a)) exclusive.add(a);
    else exclusive.delete(a);
    seen.add(a);
    grads.set(x, a);
  };
  const mine = (a: Storage): Storage => {
    if (exclusive.has(a)) return a;
    const c = copyOf(a);
    seen.add(c);
    exclusive.add(c);
    return c;
  };
  grads.set(root, g);
  for (const t of order) {
    const gt = grads.get(t);
    grads.delete(t);
    if (!gt) continue;
    const node = t.node;
    if (!node) {
      // A leaf: accumulate into .grad as PyTorch does.
      if (t.grad) accumulate(t.grad.storage, gt);
      else t.grad = new Tensor(mine(gt), t.shape);
      continue;
    }
    const needs = node.inputs.map((x) => x.requiresGrad);
    const gin = node.backward(gt, needs);
    node.inputs.forEach((x, i) => {
      const gi = gin[i];
      if (!needs[i] || !gi) return;
      if (gi.length !== x.size)
        throw new Error(`internal: ${node.op} backward gave ${gi.length} values for an input of ${x.size}`);
      const prev = grads.get(x);
      if (prev) {
        const acc = mine(prev);
        accumulate(acc, gi);
        grads.set(x, acc);
      } else store(x, gi);
    });
    // Free the graph as we go: the tape is single-use, as in PyTorch without retain_graph.
    t.node = null;
  }
}

/** Makes an op's output tensor and, when recording, attaches its backward. */
export function record<S extends Storage = Float32Array>(
  op: string,
  data: S,
  shape: Shape,
  inputs: Tensor[],
  backward: BackwardFn<S>,
): Tensor {
  const wants = gradEnabled && inputs.some((x) => x.requiresGrad);
  const out = new Tensor(data, shape, wants);
  if (wants) out.node = { op, inputs, backward: backward as unknown as BackwardFn<Storage> };
  return out;
}

/** What an array holds, for messages; an empty one may be a detached buffer. */
export function holds(data: Float32Array): string {
  if (data.length > 0) return `data has ${data.length}`;
  return 'data has none (an empty or detached buffer: one transferred to a worker is detached)';
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

// A plain array of numbers as float32, refusing anything that would turn into NaN silently.
function fromNumbers(data: unknown[]): Float32Array {
  const arr = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v !== 'number') {
      const hint = Array.isArray(v) ? ' (nested arrays are not read: pass a flat array and a shape)' : '';
      throw new TypeError(`tensor: data[${i}] must be a number, got ${describeValue(v)}${hint}`);
    }
    arr[i] = v;
  }
  return arr;
}

export interface TensorOptions {
  requiresGrad?: boolean;
  /** 'cpu' (default) or 'cuda': where the values live. */
  device?: Device | 'cuda:0';
}

/** Wraps data (not copied on the CPU; copied to the device for device: 'cuda') as a tensor of
 * the given shape. */
export function tensor(data: Float32Array | number[], shape?: Shape, opts: TensorOptions = {}): Tensor {
  const arr = data instanceof Float32Array ? data : Array.isArray(data) ? fromNumbers(data) : null;
  if (!arr)
    throw new TypeError(`tensor: data must be a Float32Array or an array of numbers, got ${describeValue(data)}`);
  const shp = shape ?? [arr.length];
  const n = checkShape('tensor', 'shape', shp);
  if (n !== arr.length) throw new RangeError(`tensor: shape ${shapeString(shp)} needs ${n} values, ${holds(arr)}`);
  const device = opts.device === undefined ? 'cpu' : checkDevice('tensor', 'options.device', opts.device);
  if (device === 'cpu') return new Tensor(arr, shp, opts.requiresGrad ?? false);
  const d = cudaBackend().empty(n) as DeviceArray;
  d.upload(arr);
  return new Tensor(d, shp, opts.requiresGrad ?? false);
}

export function zeros(shape: Shape, opts: TensorOptions = {}): Tensor {
  const n = checkShape('zeros', 'shape', shape);
  const device = opts.device === undefined ? 'cpu' : checkDevice('zeros', 'options.device', opts.device);
  return new Tensor(backendFor(device).zeros(n), shape, opts.requiresGrad ?? false);
}

export function full(shape: Shape, value: number, opts: TensorOptions = {}): Tensor {
  const n = checkShape('full', 'shape', shape);
  if (typeof value !== 'number') throw new TypeError(`full: value must be a number, got ${describeValue(value)}`);
  return tensor(empty(n).fill(value), shape, opts); // one pass: no zero fill first
}
