// GEMM ops: matmul and linear. The native SGEMM takes transpose flags, so every backward pass is
// one more GEMM on the stored operands, with no explicit transposes.
import { Tensor, record, numel, shapeString } from '../tensor';
import { backendOf, Backend, Storage, isHost } from '../device';
import { checkTensor, checkOutput } from '../check';

// Leading dimension of a row of `cols` floats (the addon wants >= 1 even for empty matrices).
const ld = (cols: number): number => Math.max(1, cols);

// C = op(A) * op(B) + beta * C on row-major matrices with natural leading dimensions.
function gemm(
  dev: Backend,
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  A: Storage,
  B: Storage,
  C: Storage,
  beta = 0,
): void {
  dev.native.gemm(transA, transB, M, N, K, 1, A, ld(transA ? M : K), B, ld(transB ? K : N), beta, C, ld(N));
}

// `batch` products; a stride of 0 shares that operand across the batch.
function gemmBatched(
  dev: Backend,
  transA: boolean,
  transB: boolean,
  batch: number,
  M: number,
  N: number,
  K: number,
  A: Storage,
  strideA: number,
  B: Storage,
  strideB: number,
  C: Storage,
): void {
  dev.native.gemmBatched(
    transA,
    transB,
    batch,
    M,
    N,
    K,
    1,
    A,
    ld(transA ? M : K),
    strideA,
    B,
    ld(transB ? K : N),
    strideB,
    0,
    C,
    ld(N),
    M * N,
  );
}

// An output of zeros (empty, or a sum over nothing), whose gradients are zeros too.
function recordZeros(dev: Backend, op: string, shape: number[], inputs: Tensor[]): Tensor {
  return record<Storage>(op, dev.zeros(numel(shape)), shape, inputs, (_g, needs) =>
    inputs.map((t, i) => (needs[i] ? dev.zeros(t.size) : null)),
  );
}

// y[r, :] = row for each of `rows` rows (cols values each).
function repeatRows(dev: Backend, row: Storage, rows: number, cols: number, y: Storage): void {
  if (isHost(row) && isHost(y)) {
    for (let r = 0; r < rows; r++) y.set(row, r * cols);
    return;
  }
  const cuda = (dev as Backend & { addon: import('../../cuda').CudaAddon }).addon;
  cuda.stridedCopy(row, 0, [0, 1], y, 0, [cols, 1], [rows, cols]);
}

/** Matrix product: a [M, K] x b [K, N] -> [M, N]; batched a [..., M, K] x b [..., K, N] with equal
 * batch dims -> [..., M, N]; or a [..., M, K] x b [K, N] with b shared across the batch. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const op = 'matmul';
  checkTensor(op, 'a', a);
  checkTensor(op, 'b', b);
  if (a.ndim < 2)
    throw new RangeError(`${op}: a must have at least 2 dims [..., M, K], got shape ${shapeString(a.shape)}`);
  if (b.ndim < 2)
    throw new RangeError(`${op}: b must have at least 2 dims [..., K, N] or [K, N], got shape ${shapeString(b.shape)}`);
  const M = a.shape[a.ndim - 2],
    K = a.shape[a.ndim - 1];
  const N = b.shape[b.ndim - 1];
  const batchShape = a.shape.slice(0, -2);
  const shared = b.ndim === 2;
  if (b.shape[b.ndim - 2] !== K)
    throw new RangeError(
      `${op}: b must have shape [..., K, N] with K = ${K} (last dim of a ${shapeString(a.shape)}), got ${shapeString(b.shape)}`,
    );
  if (!shared && (b.ndim !== a.ndim || b.shape.slice(0, -2).some((d, i) => d !== batchShape[i])))
    throw new RangeError(
      `${op}: b must be 2-D [K, N] or have the batch dims of a ${shapeString(batchShape)}, got ${shapeString(b.shape)}`,
    );
  const batch = numel(batchShape);
  const outShape = [...batchShape, M, N];
  checkOutput(op, 'output', outShape, `a ${shapeString(a.shape)} times b ${shapeString(b.shape)}`);
  // Nothing to multiply: zeros (K = 0) or an empty result, without a loop over the batch.
  const dev = backendOf(op, a, b);
  if (batch * M * N === 0 || K === 0) return recordZeros(dev, op, outShape, [a, b]);
  const out = dev.empty(batch * M * N);
  const ad = a.storage,
    bd = b.storage;
  // A shared b makes the batch one tall product [batch*M, K] x [K, N].
  if (shared) gemm(dev, false, false, batch * M, N, K, ad, bd, out);
  else gemmBatched(dev, false, false, batch, M, N, K, ad, M * K, bd, K * N, out);
  return record<Storage>(op, out, outShape, [a, b], (g, needs) => {
    let ga: Storage | null = null,
      gb: Storage | null = null;
    if (needs[0]) {
      // ga = g b^T
      ga = dev.empty(a.size);
      if (shared) gemm(dev, false, true, batch * M, K, N, g, bd, ga);
      else gemmBatched(dev, false, true, batch, M, K, N, g, M * N, bd, K * N, ga);
    }
    if (needs[1]) {
      // gb = a^T g (summed over the batch when b is shared)
      gb = dev.empty(b.size);
      if (shared) gemm(dev, true, false, K, N, batch * M, ad, g, gb);
      else gemmBatched(dev, true, false, batch, K, N, M, ad, M * K, g, M * N, gb);
    }
    return [ga, gb];
  });
}

/** PyTorch's nn.Linear: x [..., in], weight [out, in], bias [out] -> y = x W^T + b, shape [..., out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const op = 'linear';
  checkTensor(op, 'x', x);
  checkTensor(op, 'weight', weight);
  if (x.ndim < 1)
    throw new RangeError(`${op}: x must have at least 1 dim [..., in], got shape ${shapeString(x.shape)}`);
  const inF = x.shape[x.ndim - 1];
  if (weight.ndim !== 2 || weight.shape[1] !== inF)
    throw new RangeError(
      `${op}: weight must have shape [out, in] with in = ${inF} (last dim of x), got ${shapeString(weight.shape)}`,
    );
  const outF = weight.shape[0];
  const hasBias = bias !== undefined && bias !== null;
  if (hasBias) {
    checkTensor(op, 'bias', bias);
    if (bias.ndim !== 1 || bias.shape[0] !== outF)
      throw new RangeError(
        `${op}: bias must have shape [${outF}] (out features of weight), got ${shapeString(bias.shape)}`,
      );
  }
  const rows = numel(x.shape.slice(0, -1));
  const outShape = [...x.shape.slice(0, -1), outF];
  checkOutput(op, 'output', outShape, `x ${shapeString(x.shape)} and weight ${shapeString(weight.shape)}`);
  const dev = backendOf(op, x, weight, hasBias ? bias : null);
  if (rows * outF === 0) return recordZeros(dev, op, outShape, hasBias ? [x, weight, bias] : [x, weight]);
  const y = dev.empty(rows * outF);
  if (hasBias) repeatRows(dev, bias.storage, rows, outF, y);
  const xd = x.storage,
    wd = weight.storage;
  gemm(dev, false, true, rows, outF, inF, xd, wd, y, hasBias ? 1 : 0);
  const inputs = hasBias ? [x, weight, bias] : [x, weight];
  return record<Storage>(op, y, outShape, inputs, (g, needs) => {
    let gx: Storage | null = null,
      gw: Storage | null = null,
      gb: Storage | null = null;
    if (needs[0]) {
      gx = dev.empty(x.size);
      gemm(dev, false, false, rows, inF, outF, g, wd, gx); // g W
    }
    if (needs[1]) {
      gw = dev.empty(weight.size);
      gemm(dev, true, false, outF, inF, rows, g, xd, gw); // g^T x
    }
    if (hasBias && needs[2]) {
      gb = dev.empty(outF);
      const ones = dev.empty(rows);
      ones.fill(1);
      gemm(dev, false, false, 1, outF, rows, ones, g, gb); // 1^T g: column sums
      if (!isHost(ones)) ones.dispose();
    }
    return hasBias ? [gx, gw, gb] : [gx, gw];
  });
}
