// Elementwise arithmetic with broadcasting, reductions and shape ops. These are memory-bound
// and simple, so they stay in TypeScript; each op's backward sits right below its forward.
import { Tensor, Shape, record, numel, shapeString, empty } from '../tensor';
import { native } from '../../native';
import { cudaBackend, DeviceArray, Storage } from '../device';
import { checkTensor, checkInt, checkNumber, checkOutput, sameShape, describe } from '../check';

function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

function broadcastShape(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1)
      throw new RangeError(`${op}: shapes ${shapeString(a)} and ${shapeString(b)} cannot be broadcast together`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

// For each element of `out`, the flat index of the broadcast source element.
function broadcastIndex(src: Shape, out: Shape): Int32Array {
  const n = numel(out);
  const idx = new Int32Array(n);
  const off = out.length - src.length;
  const ss = stridesOf(src);
  const os = stridesOf(out);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let j = 0;
    for (let d = 0; d < out.length; d++) {
      const c = Math.floor(rem / os[d]);
      rem -= c * os[d];
      const sd = d - off;
      if (sd >= 0 && src[sd] !== 1) j += c * ss[sd];
    }
    idx[i] = j;
  }
  return idx;
}

// How one operand of a broadcasting op maps onto the output: unchanged (same shape), one block
// repeated (the operand is the output's trailing dims: biases, position embeddings), or any other
// pattern through the flat source index of every output element.
type Broadcast = { kind: 'same' } | { kind: 'repeat'; block: number } | { kind: 'index'; idx: Int32Array };

function broadcastOf(src: Shape, out: Shape): Broadcast {
  if (sameShape(src, out)) return { kind: 'same' };
  let lead = 0;
  while (lead < src.length && src[lead] === 1) lead++;
  const core = src.slice(lead),
    off = out.length - core.length;
  if (off >= 0 && core.every((d, i) => d === out[off + i])) return { kind: 'repeat', block: numel(core) };
  return { kind: 'index', idx: broadcastIndex(src, out) };
}

// The operand laid out in the output's shape (n elements).
function expand(x: Float32Array, b: Broadcast, n: number): Float32Array {
  if (b.kind === 'same') return x;
  const out = empty(n);
  if (b.kind === 'repeat') for (let o = 0; o < n; o += b.block) out.set(x, o);
  else for (let i = 0; i < n; i++) out[i] = x[b.idx[i]];
  return out;
}

// Sums a gradient in the output's shape back down to the operand's (size elements), adding in
// output order on both paths.
function reduceTo(g: Float32Array, b: Broadcast, size: number): Float32Array {
  if (b.kind === 'same') return g;
  const r = new Float32Array(size);
  if (b.kind === 'repeat') {
    for (let o = 0; o < g.length; o += b.block) for (let i = 0; i < b.block; i++) r[i] += g[o + i];
  } else {
    for (let i = 0; i < g.length; i++) r[b.idx[i]] += g[i];
  }
  return r;
}

// Native arithmetic codes, as the addon exports them (lk::ArithOp in native/cpu/nn.h).
const Arith = native.arithOps;

// y = a op b on same-length arrays, natively (threads + SIMD).
function arith(op: number, a: Float32Array, b: Float32Array | null, s = 0): Float32Array {
  const y = empty(a.length);
  native.arith(op, a, b, s, y);
  return y;
}

// a and b broadcast to `shape`, each with its mapping (computed once, reused by the backward).
function broadcastOperands(op: string, a: Tensor, b: Tensor) {
  checkTensor(op, 'a', a);
  checkTensor(op, 'b', b);
  const shape = sameShape(a.shape, b.shape) ? a.shape.slice() : broadcastShape(op, a.shape, b.shape);
  checkOutput(op, 'output', shape, `broadcasting a ${shapeString(a.shape)} with b ${shapeString(b.shape)}`);
  return { shape, ba: broadcastOf(a.shape, shape), bb: broadcastOf(b.shape, shape) };
}

function binary(opName: string, op: number, a: Tensor, b: Tensor): Tensor {
  if (onCuda(opName, a, b)) return cudaBinary(opName, op, a, b);
  const { shape, ba, bb } = broadcastOperands(opName, a, b);
  const n = numel(shape);
  const ae = expand(a.data, ba, n);
  const be = expand(b.data, bb, n);
  const out = arith(op, ae, be);
  return record(opName, out, shape, [a, b], (g, needs) => {
    let ga: Float32Array | null = null,
      gb: Float32Array | null = null;
    if (needs[0]) ga = op === Arith.mul ? arith(Arith.mul, g, be) : g;
    if (needs[1])
      gb = op === Arith.mul ? arith(Arith.mul, g, ae) : op === Arith.sub ? arith(Arith.scale, g, null, -1) : g;
    return [ga && reduceTo(ga, ba, a.size), gb && reduceTo(gb, bb, b.size)];
  });
}

/** a + b with NumPy broadcasting. */
export function add(a: Tensor, b: Tensor): Tensor {
  return binary('add', Arith.add, a, b);
}
/** a - b with broadcasting. */
export function sub(a: Tensor, b: Tensor): Tensor {
  return binary('sub', Arith.sub, a, b);
}
/** a * b (elementwise) with broadcasting. */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binary('mul', Arith.mul, a, b);
}

/** x * s for a number s. */
export function scale(x: Tensor, s: number): Tensor {
  checkTensor('scale', 'x', x);
  checkNumber('scale', 's', s);
  if (x.device === 'cuda') {
    const scaled = (v: Storage): DeviceArray => {
      const y = cuEmpty(v.length);
      cudaBackend().native.arith(Arith.scale, v, null, s, y);
      return y;
    };
    return record<Storage>('scale', scaled(x.storage), x.shape, [x], (g) => [scaled(g)]);
  }
  return record('scale', arith(Arith.scale, x.data, null, s), x.shape, [x], (g) => [arith(Arith.scale, g, null, s)]);
}

function normDim(op: string, x: Tensor, dim: number): number {
  checkInt(op, 'dim', dim, -x.ndim, x.ndim - 1);
  return dim < 0 ? dim + x.ndim : dim;
}

// Sum over one dimension (or all), in float64 for accuracy.
function reduceSum(
  op: string,
  x: Tensor,
  dim: number | undefined,
  keepdim: boolean,
  factor: (count: number) => number,
): Tensor {
  checkTensor(op, 'x', x);
  if (x.device === 'cuda')
    return cudaReduceSum(op, x, dim === undefined ? undefined : normDim(op, x, dim), keepdim, factor);
  if (dim === undefined) {
    let s = 0;
    for (let i = 0; i < x.size; i++) s += x.data[i];
    const f = factor(x.size);
    const shape = keepdim ? x.shape.map(() => 1) : [];
    return record(op, new Float32Array([s * f]), shape, [x], (g) => [new Float32Array(x.size).fill(g[0] * f)]);
  }
  const d = normDim(op, x, dim);
  const outer = numel(x.shape.slice(0, d));
  const len = x.shape[d];
  const inner = numel(x.shape.slice(d + 1));
  const f = factor(len);
  const out = new Float32Array(outer * inner);
  const acc = new Float64Array(inner);
  for (let o = 0; o < (out.length === 0 ? 0 : outer); o++) {
    acc.fill(0);
    for (let l = 0; l < len; l++) {
      const base = (o * len + l) * inner;
      for (let i = 0; i < inner; i++) acc[i] += x.data[base + i];
    }
    for (let i = 0; i < inner; i++) out[o * inner + i] = acc[i] * f;
  }
  const shape = x.shape.slice();
  if (keepdim) shape[d] = 1;
  else shape.splice(d, 1);
  return record(op, out, shape, [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let o = 0; o < (x.size === 0 ? 0 : outer); o++)
      for (let l = 0; l < len; l++) {
        const base = (o * len + l) * inner;
        for (let i = 0; i < inner; i++) gx[base + i] = g[o * inner + i] * f;
      }
    return [gx];
  });
}

/** Sum of all elements, or along `dim`. */
export function sum(x: Tensor, dim?: number, keepdim = false): Tensor {
  return reduceSum('sum', x, dim, keepdim, () => 1);
}
/** Mean of all elements, or along `dim`. */
export function mean(x: Tensor, dim?: number, keepdim = false): Tensor {
  return reduceSum('mean', x, dim, keepdim, (n) => 1 / n);
}

/** Same data, new shape (one entry may be -1). Shares the data array. */
export function reshape(x: Tensor, shape: number[]): Tensor {
  checkTensor('reshape', 'x', x);
  if (!Array.isArray(shape)) throw new TypeError('reshape: shape must be an array of integers');
  const s = shape.slice();
  const free = s.indexOf(-1);
  if (s.some((d, i) => !Number.isInteger(d) || (d < 0 && i !== free)) || s.lastIndexOf(-1) !== free)
    throw new TypeError(
      `reshape: shape must hold non-negative integers and at most one -1, got ${JSON.stringify(shape)}`,
    );
  if (free >= 0) {
    const rest = numel(s.filter((_, i) => i !== free));
    if (rest === 0 || x.size % rest !== 0)
      throw new RangeError(`reshape: cannot infer -1 in ${JSON.stringify(shape)} for ${x.size} elements`);
    s[free] = x.size / rest;
  }
  checkOutput('reshape', 'shape', s);
  if (numel(s) !== x.size)
    throw new RangeError(
      `reshape: shape ${shapeString(s)} does not hold ${x.size} elements (input ${shapeString(x.shape)})`,
    );
  return record<Storage>('reshape', x.storage, s, [x], (g) => [g]);
}

/** Reorders dimensions (a copy), like torch.permute. */
export function permute(x: Tensor, dims: number[]): Tensor {
  checkTensor('permute', 'x', x);
  if (!Array.isArray(dims) || dims.length !== x.ndim || [...dims].sort((p, q) => p - q).some((d, i) => d !== i))
    throw new RangeError(`permute: dims must be a permutation of 0..${x.ndim - 1}, got ${JSON.stringify(dims)}`);
  const shape = dims.map((d) => x.shape[d]);
  const inverse = dims.map((_, i) => dims.indexOf(i));
  if (x.device === 'cuda') {
    const move = (src: Storage, from: Shape, order: readonly number[]): DeviceArray => {
      const st = stridesOf(from),
        to = order.map((d) => from[d]);
      const y = cuEmpty(src.length);
      cu().stridedCopy(
        src,
        0,
        order.map((d) => st[d]),
        y,
        0,
        stridesOf(to),
        to,
      );
      return y;
    };
    return record<Storage>('permute', move(x.storage, x.shape, dims), shape, [x], (g) => [move(g, shape, inverse)]);
  }
  return record('permute', permuteCopy(x.data, x.shape, dims), shape, [x], (g) => [permuteCopy(g, shape, inverse)]);
}

// out = src laid out with its dims reordered. Trailing dims that stay in place move as one
// contiguous block; an odometer walks the other dims (no per-element division).
function permuteCopy(src: Float32Array, shape: Shape, dims: readonly number[]): Float32Array {
  const out = new Float32Array(src.length);
  if (src.length === 0) return out;
  let tail = dims.length;
  while (tail > 0 && dims[tail - 1] === tail - 1) tail--;
  const block = numel(shape.slice(tail));
  const inStride = stridesOf(shape);
  const count = dims.slice(0, tail).map((d) => shape[d]);
  const step = dims.slice(0, tail).map((d) => inStride[d]);
  const idx = new Array<number>(tail).fill(0);
  let from = 0;
  for (let to = 0; to < out.length; to += block) {
    // A subarray view per block costs more than copying short blocks by hand.
    if (block >= 256) out.set(src.subarray(from, from + block), to);
    else for (let i = 0; i < block; i++) out[to + i] = src[from + i];
    for (let k = tail - 1; k >= 0; k--) {
      from += step[k];
      if (++idx[k] < count[k]) break;
      from -= step[k] * count[k];
      idx[k] = 0;
    }
  }
  return out;
}

/** Swaps two dimensions (a copy). */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  checkTensor('transpose', 'x', x);
  const a = normDim('transpose', x, dim0);
  const b = normDim('transpose', x, dim1);
  const dims = x.shape.map((_, i) => i);
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

/** Elements start..end-1 along dim (a copy), like x.narrow / x[..., start:end]. */
export function slice(x: Tensor, dim: number, start: number, end: number): Tensor {
  checkTensor('slice', 'x', x);
  const d = normDim('slice', x, dim);
  const len = x.shape[d];
  checkInt('slice', 'start', start, 0, len);
  checkInt('slice', 'end', end, start, len);
  const outer = numel(x.shape.slice(0, d));
  const inner = numel(x.shape.slice(d + 1));
  const m = end - start;
  if (x.device === 'cuda') {
    const shape = x.shape.slice();
    shape[d] = m;
    const st = stridesOf(x.shape),
      offset = start * st[d];
    const y = cuEmpty(numel(shape));
    cu().stridedCopy(x.storage, offset, st, y, 0, stridesOf(shape), shape);
    return record<Storage>('slice', y, shape, [x], (g) => {
      const gx = cudaBackend().zeros(x.size);
      cu().stridedCopy(g, 0, stridesOf(shape), gx, offset, st, shape);
      return [gx];
    });
  }
  const out = new Float32Array(outer * m * inner);
  for (let o = 0; o < (m * inner === 0 ? 0 : outer); o++)
    out.set(x.data.subarray((o * len + start) * inner, (o * len + end) * inner), o * m * inner);
  const shape = x.shape.slice();
  shape[d] = m;
  return record('slice', out, shape, [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let o = 0; o < (m * inner === 0 ? 0 : outer); o++)
      gx.set(g.subarray(o * m * inner, (o + 1) * m * inner), (o * len + start) * inner);
    return [gx];
  });
}

/** Concatenates tensors along dim. */
export function cat(xs: Tensor[], dim: number): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new TypeError('cat: xs must be a non-empty array of Tensors');
  xs.forEach((x, i) => checkTensor('cat', `xs[${i}]`, x));
  const d = normDim('cat', xs[0], dim);
  for (let i = 1; i < xs.length; i++)
    if (xs[i].ndim !== xs[0].ndim || xs[i].shape.some((s, j) => j !== d && s !== xs[0].shape[j]))
      throw new RangeError(
        `cat: xs[${i}] has shape ${shapeString(xs[i].shape)}, incompatible with ${shapeString(xs[0].shape)} along dim ${d}`,
      );
  const outer = numel(xs[0].shape.slice(0, d));
  const inner = numel(xs[0].shape.slice(d + 1));
  const lens = xs.map((x) => x.shape[d]);
  const total = lens.reduce((p, q) => p + q, 0);
  const shape = xs[0].shape.slice();
  shape[d] = total;
  checkOutput('cat', 'output', shape, `${xs.length} tensors along dim ${d}`);
  if (onCuda('cat', ...xs)) {
    const st = stridesOf(shape);
    const y = cuEmpty(numel(shape));
    let at = 0;
    const offsets = xs.map((x, i) => {
      cu().stridedCopy(x.storage, 0, stridesOf(x.shape), y, at * st[d], st, x.shape);
      at += lens[i];
      return (at - lens[i]) * st[d];
    });
    return record<Storage>('cat', y, shape, xs, (g, needs) =>
      xs.map((x, i) => {
        if (!needs[i]) return null;
        const gx = cuEmpty(x.size);
        cu().stridedCopy(g, offsets[i], st, gx, 0, stridesOf(x.shape), x.shape);
        return gx;
      }),
    );
  }
  const out = new Float32Array(outer * total * inner);
  for (let o = 0; o < (total * inner === 0 ? 0 : outer); o++) {
    let off = 0;
    xs.forEach((x, i) => {
      out.set(x.data.subarray(o * lens[i] * inner, (o + 1) * lens[i] * inner), (o * total + off) * inner);
      off += lens[i];
    });
  }
  return record('cat', out, shape, xs, (g, needs) => {
    let off = 0;
    return xs.map((x, i) => {
      const start = off;
      off += lens[i];
      if (!needs[i]) return null;
      const gx = new Float32Array(x.size);
      for (let o = 0; o < (lens[i] * inner === 0 ? 0 : outer); o++)
        gx.set(g.subarray((o * total + start) * inner, (o * total + start + lens[i]) * inner), o * lens[i] * inner);
      return gx;
    });
  });
}

/** Constant padding of the last two dims of x [..., H, W], like F.pad(x, [left, right, top, bottom], value=value);
 * a single number pads all four sides. */
export function pad2d(x: Tensor, padding: number | [number, number, number, number], value = 0): Tensor {
  const op = 'pad2d';
  checkTensor(op, 'x', x);
  if (x.ndim < 2)
    throw new RangeError(`${op}: x must have at least 2 dimensions [..., H, W], got ${shapeString(x.shape)}`);
  const p = typeof padding === 'number' ? [padding, padding, padding, padding] : padding;
  if (!Array.isArray(p) || p.length !== 4)
    throw new TypeError(`${op}: padding must be a number or [left, right, top, bottom], got ${describe(padding)}`);
  const [left, right, top, bottom] = p.map((v, i) => checkInt(op, `padding[${i}]`, v, 0, 1 << 20));
  checkNumber(op, 'value', value);
  const H = x.shape[x.ndim - 2],
    W = x.shape[x.ndim - 1];
  const planes = numel(x.shape.slice(0, -2));
  const OH = H + top + bottom,
    OW = W + left + right;
  const shape = [...x.shape.slice(0, -2), OH, OW];
  checkOutput(op, 'output', shape, `padding [${left}, ${right}, ${top}, ${bottom}] of x ${shapeString(x.shape)}`);
  if (x.device === 'cuda') {
    const inner = [planes, H, W],
      offset = top * OW + left,
      outSt = [OH * OW, OW, 1];
    const y = cuEmpty(planes * OH * OW);
    y.fill(value);
    cu().stridedCopy(x.storage, 0, stridesOf(inner), y, offset, outSt, inner);
    return record<Storage>(op, y, shape, [x], (g) => {
      const gx = cuEmpty(x.size);
      cu().stridedCopy(g, offset, outSt, gx, 0, stridesOf(inner), inner);
      return [gx];
    });
  }
  const out = new Float32Array(planes * OH * OW);
  if (value !== 0) out.fill(value);
  for (let c = 0; c < (H * W === 0 ? 0 : planes); c++)
    for (let i = 0; i < H; i++)
      out.set(x.data.subarray((c * H + i) * W, (c * H + i + 1) * W), (c * OH + i + top) * OW + left);
  return record(op, out, shape, [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let c = 0; c < (H * W === 0 ? 0 : planes); c++)
      for (let i = 0; i < H; i++)
        gx.set(g.subarray((c * OH + i + top) * OW + left, (c * OH + i + top) * OW + left + W), (c * H + i) * W);
    return [gx];
  });
}

// ---- on CUDA: the same ops through the addon's three general kernels ------------------------------
// stridedCopy (permute, slice, cat, pad), binaryStrided (broadcasting arithmetic) and reduceSum
// (sums over any dims: sum, mean, and the gradients of broadcast operands). The CPU code above
// stays specialised in TypeScript; these follow the same definitions.

function cu() {
  return cudaBackend().addon;
}
function cuEmpty(n: number): DeviceArray {
  return cudaBackend().empty(n) as DeviceArray;
}

// Whether an op's tensors are on CUDA (all of them; mixing devices is an error naming both).
function onCuda(op: string, ...ts: Tensor[]): boolean {
  const first = ts[0].device;
  for (let i = 1; i < ts.length; i++)
    if (ts[i].device !== first)
      throw new TypeError(
        `${op}: all tensors must be on one device, got argument 1 on ${first} and argument ${i + 1} on ${ts[i].device} (move them with .to('${first}'))`,
      );
  return first === 'cuda';
}

// Strides that read an operand of shape src as if broadcast to out (0 along broadcast dims).
function broadcastStrides(src: Shape, out: Shape): number[] {
  const off = out.length - src.length,
    ss = stridesOf(src);
  return out.map((_, i) => (i - off >= 0 && src[i - off] !== 1 ? ss[i - off] : 0));
}

// Sums g (contiguous, shape out) down to an operand of shape src that was broadcast to out.
function cudaReduceTo(g: Storage, src: Shape, out: Shape): Storage {
  if (sameShape(src, out)) return g;
  const off = out.length - src.length,
    os = stridesOf(out);
  const keepShape: number[] = [],
    keepStrides: number[] = [],
    redShape: number[] = [],
    redStrides: number[] = [];
  out.forEach((d, i) => {
    const sd = i - off >= 0 ? src[i - off] : 1;
    if (sd === 1 && d !== 1) {
      redShape.push(d);
      redStrides.push(os[i]);
    } else if (i - off >= 0) {
      keepShape.push(sd);
      keepStrides.push(os[i]);
    }
  });
  const y = cuEmpty(numel(src));
  cu().reduceSum(g, 0, keepShape, keepStrides, redShape, redStrides, 1, y);
  return y;
}

function cudaBinary(opName: string, op: number, a: Tensor, b: Tensor): Tensor {
  checkTensor(opName, 'a', a);
  checkTensor(opName, 'b', b);
  const shape = sameShape(a.shape, b.shape) ? a.shape.slice() : broadcastShape(opName, a.shape, b.shape);
  checkOutput(opName, 'output', shape, `broadcasting a ${shapeString(a.shape)} with b ${shapeString(b.shape)}`);
  const n = numel(shape),
    sa = broadcastStrides(a.shape, shape),
    sb = broadcastStrides(b.shape, shape),
    sy = stridesOf(shape);
  const ad = a.storage,
    bd = b.storage;
  const y = cuEmpty(n);
  cu().binaryStrided(op, ad, 0, sa, bd, 0, sb, y, shape);
  return record<Storage>(opName, y, shape, [a, b], (g, needs) => {
    // The gradient of one operand in the output's shape: g, -g, or g times the other operand.
    const full = (other: Storage | null, otherStrides: number[], negate: boolean): Storage => {
      if (other) {
        const r = cuEmpty(n);
        cu().binaryStrided(Arith.mul, g, 0, sy, other, 0, otherStrides, r, shape);
        return r;
      }
      if (!negate) return g;
      const r = cuEmpty(n);
      cudaBackend().native.arith(Arith.scale, g, null, -1, r);
      return r;
    };
    const ga = needs[0] ? cudaReduceTo(full(op === Arith.mul ? bd : null, sb, false), a.shape, shape) : null;
    const gb = needs[1] ? cudaReduceTo(full(op === Arith.mul ? ad : null, sa, op === Arith.sub), b.shape, shape) : null;
    return [ga, gb];
  });
}

function cudaReduceSum(
  op: string,
  x: Tensor,
  d: number | undefined,
  keepdim: boolean,
  factor: (count: number) => number,
): Tensor {
  const st = stridesOf(x.shape);
  const keep = x.shape.map((_, i) => i).filter((i) => d !== undefined && i !== d);
  const red = d === undefined ? x.shape.map((_, i) => i) : [d];
  const f = factor(red.reduce((p, i) => p * x.shape[i], 1));
  const outShape = keep.map((i) => x.shape[i]);
  const y = cuEmpty(numel(outShape));
  cu().reduceSum(
    x.storage,
    0,
    outShape,
    keep.map((i) => st[i]),
    red.map((i) => x.shape[i]),
    red.map((i) => st[i]),
    f,
    y,
  );
  const shape =
    d === undefined
      ? keepdim
        ? x.shape.map(() => 1)
        : []
      : keepdim
        ? x.shape.map((v, i) => (i === d ? 1 : v))
        : outShape;
  return record<Storage>(op, y, shape, [x], (g) => {
    // gx = f * g broadcast back over the reduced dims: a sum of one term per element.
    const gStrides = x.shape.map(() => 0);
    const gs = stridesOf(outShape);
    keep.forEach((i, k) => (gStrides[i] = gs[k]));
    const gx = cuEmpty(x.size);
    cu().reduceSum(g, 0, x.shape, gStrides, [], [], f, gx);
    return [gx];
  });
}
