// Tensor: a contiguous row-major Float32Array plus a shape, and the reverse-mode autograd tape.
// Every op records (inputs, backward) on its output when gradients are wanted; backward() walks
// the recorded graph in reverse topological order and frees it afterwards.

import { native } from '../native';

export type Shape = readonly number[];

/** Computes the input gradients of one op from its output gradient. `needs[i]` says whether
 * input i wants a gradient; entries for inputs that don't may be null. */
export type BackwardFn = (gradOut: Float32Array, needs: readonly boolean[]) => (Float32Array | null)[];

interface Node {
  op: string;
  inputs: Tensor[];
  backward: BackwardFn;
}

let gradEnabled = true;

// eslint-disable-next-line @typescript-eslint/no-var-requires
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

// LKVIT_POISON_EMPTY=1 (set by the test suite) fills uninitialised outputs with NaN, so a kernel
// that fails to write every element of an output it promises to overwrite fails its tests.
const poisonEmpty = process.env.LKVIT_POISON_EMPTY === '1';

/** An output array a kernel will overwrite completely: uninitialised memory, no zero fill.
 * Small arrays use the ordinary (zeroed) allocation, which is cheaper at that size. */
export function empty(n: number): Float32Array {
  if (n < 4096) return poisonEmpty ? new Float32Array(n).fill(NaN) : new Float32Array(n);
  const b = Buffer.allocUnsafeSlow(n * 4);
  const a = new Float32Array(b.buffer, b.byteOffset, n);
  if (poisonEmpty) a.fill(NaN);
  return a;
}

export class Tensor {
  readonly shape: Shape;
  /** Row-major values. Shared, not copied, with the array given to tensor(). */
  data: Float32Array;
  requiresGrad: boolean;
  /** Accumulated gradient (leaf tensors with requiresGrad only), like PyTorch's .grad. */
  grad: Tensor | null = null;
  /** @internal the op that produced this tensor, while a graph is recorded */
  node: Node | null = null;

  constructor(data: Float32Array, shape: Shape, requiresGrad = false) {
    this.data = data;
    this.shape = Object.freeze(shape.slice());
    this.requiresGrad = requiresGrad;
  }

  get size(): number {
    return this.data.length;
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
    return new Tensor(this.data, this.shape, false);
  }

  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape, false);
  }

  /** Value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new RangeError(`item: tensor must hold exactly one value, shape is ${shapeString(this.shape)}`);
    return this.data[0];
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

  /** Reverse-mode autodiff from this tensor. gradOutput defaults to 1 for a one-element tensor. */
  backward(gradOutput?: Tensor | Float32Array): void {
    let g: Float32Array;
    if (gradOutput === undefined) {
      if (this.size !== 1)
        throw new RangeError(
          `backward: gradOutput is required for a tensor of shape ${shapeString(this.shape)} (only one-element tensors default to 1)`,
        );
      g = new Float32Array([1]);
    } else {
      g = gradOutput instanceof Tensor ? gradOutput.data : gradOutput;
      if (!(g instanceof Float32Array)) throw new TypeError('backward: gradOutput must be a Tensor or a Float32Array');
      if (g.length !== this.size)
        throw new RangeError(`backward: gradOutput must hold ${this.size} values (shape ${shapeString(this.shape)}), got ${g.length}`);
    }
    if (!this.requiresGrad) throw new TypeError('backward: this tensor does not require grad (no input of its graph has requiresGrad)');
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

// into += g; long arrays natively (threads, SIMD: the same one addition per element).
function accumulate(into: Float32Array, g: Float32Array): void {
  if (into.length >= 4096) native.arith(0, into, g, 0, into);
  else for (let i = 0; i < into.length; i++) into[i] += g[i];
}

function runBackward(root: Tensor, g: Float32Array): void {
  const order = topoOrder(root);
  const grads = new Map<Tensor, Float32Array>();
  // Gradient arrays are passed along without copies; an array may be mutated (accumulated into,
  // or become a leaf's .grad) only when this pass made it and nothing else holds it. The caller's
  // gradOutput, or an op passing its output gradient straight through (reshape), is copied first.
  const seen = new Set<Float32Array>([g, root.data]);
  const exclusive = new Set<Float32Array>();
  const store = (x: Tensor, a: Float32Array): void => {
    if (!seen.has(a)) exclusive.add(a);
    else exclusive.delete(a);
    seen.add(a);
    grads.set(x, a);
  };
  const mine = (a: Float32Array): Float32Array => {
    if (exclusive.has(a)) return a;
    const c = a.slice();
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
      if (t.grad) accumulate(t.grad.data, gt);
      else t.grad = new Tensor(mine(gt), t.shape);
      continue;
    }
    const needs = node.inputs.map((x) => x.requiresGrad);
    const gin = node.backward(gt, needs);
    node.inputs.forEach((x, i) => {
      const gi = gin[i];
      if (!needs[i] || !gi) return;
      if (gi.length !== x.size) throw new Error(`internal: ${node.op} backward gave ${gi.length} values for an input of ${x.size}`);
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
export function record(op: string, data: Float32Array, shape: Shape, inputs: Tensor[], backward: BackwardFn): Tensor {
  const wants = gradEnabled && inputs.some((x) => x.requiresGrad);
  const out = new Tensor(data, shape, wants);
  if (wants) out.node = { op, inputs, backward };
  return out;
}

/** Wraps data (not copied) as a tensor of the given shape. */
export function tensor(data: Float32Array | number[], shape?: Shape, opts: { requiresGrad?: boolean } = {}): Tensor {
  const arr = data instanceof Float32Array ? data : Array.isArray(data) ? Float32Array.from(data) : null;
  if (!arr) throw new TypeError('tensor: data must be a Float32Array or an array of numbers');
  const shp = shape ?? [arr.length];
  if (!Array.isArray(shape ?? []) || shp.some((d) => !Number.isInteger(d) || d < 0))
    throw new TypeError(`tensor: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  if (numel(shp) !== arr.length)
    throw new RangeError(`tensor: shape ${shapeString(shp)} needs ${numel(shp)} values, data has ${arr.length}`);
  return new Tensor(arr, shp, opts.requiresGrad ?? false);
}

export function zeros(shape: Shape, opts: { requiresGrad?: boolean } = {}): Tensor {
  return tensor(new Float32Array(numel(shape)), shape, opts);
}

export function full(shape: Shape, value: number, opts: { requiresGrad?: boolean } = {}): Tensor {
  return tensor(empty(numel(shape)).fill(value), shape, opts); // one pass: no zero fill first
}
