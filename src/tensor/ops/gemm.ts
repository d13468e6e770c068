// GEMM ops: matmul and linear. The native SGEMM takes transpose flags, so every backward pass is
// one more GEMM on the stored operands, with no explicit transposes.
import { Tensor, record, numel, shapeString, empty } from '../tensor';
import { checkTensor, checkOutput } from '../check';
import { native } from '../../native';

// Leading dimension of a row of `cols` floats (the addon wants >= 1 even for empty matrices).
const ld = (cols: number): number => Math.max(1, cols);

// C = op(A) * op(B) + beta * C on row-major matrices with natural leading dimensions.
function gemm(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  A: Float32Array, B: Float32Array, C: Float32Array, beta = 0,
): void {
  native.gemm(transA, transB, M, N, K, 1, A, ld(transA ? M : K), B, ld(transB ? K : N), beta, C, ld(N));
}

// `batch` products; a stride of 0 shares that operand across the batch.
function gemmBatched(
  transA: boolean, transB: boolean, batch: number, M: number, N: number, K: number,
  A: Float32Array, strideA: number, B: Float32Array, strideB: number, C: Float32Array,
): void {
  native.gemmBatched(transA, transB, batch, M, N, K, 1, A, ld(transA ? M : K), strideA, B, ld(transB ? K : N), strideB, 0, C, ld(N), M * N);
}

// An output of zeros (empty, or a sum over nothing), whose gradients are zeros too.
function recordZeros(op: string, shape: number[], inputs: Tensor[]): Tensor {
  return record(op, new Float32Array(numel(shape)), shape, inputs, (_g, needs) =>
    inputs.map((t, i) => (needs[i] ? new Float32Array(t.size) : null)),
  );
}

/** Matrix product: a [M, K] x b [K, N] -> [M, N]; batched a [..., M, K] x b [..., K, N] with equal
 * batch dims -> [..., M, N]; or a [..., M, K] x b [K, N] with b shared across the batch. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const op = 'matmul';
  checkTensor(op, 'a', a);
  checkTensor(op, 'b', b);
  if (a.ndim < 2) throw new RangeError(`${op}: a must have at least 2 dims [..., M, K], got shape ${shapeString(a.shape)}`);
  if (b.ndim < 2) throw new RangeError(`${op}: b must have at least 2 dims [..., K, N] or [K, N], got shape ${shapeString(b.shape)}`);
  const M = a.shape[a.ndim - 2], K = a.shape[a.ndim - 1];
  const N = b.shape[b.ndim - 1];
  const batchShape = a.shape.slice(0, -2);
  const shared = b.ndim === 2;
  if (b.shape[b.ndim - 2] !== K)
    throw new RangeError(`${op}: b must have shape [..., K, N] with K = ${K} (last dim of a ${shapeString(a.shape)}), got ${shapeString(b.shape)}`);
  if (!shared && (b.ndim !== a.ndim || b.shape.slice(0, -2).some((d, i) => d !== batchShape[i])))
    throw new RangeError(
      `${op}: b must be 2-D [K, N] or have the batch dims of a ${shapeString(batchShape)}, got ${shapeString(b.shape)}`,
    );
  const batch = numel(batchShape);
  const outShape = [...batchShape, M, N];
  checkOutput(op, 'output', outShape, `a ${shapeString(a.shape)} times b ${shapeString(b.shape)}`);
  // Nothing to multiply: zeros (K = 0) or an empty result, without a loop over the batch.
  if (batch * M * N === 0 || K === 0) return recordZeros(op, outShape, [a, b]);
  const out = empty(batch * M * N);
  // A shared b makes the batch one tall product [batch*M, K] x [K, N].
  if (shared) gemm(false, false, batch * M, N, K, a.data, b.data, out);
  else gemmBatched(false, false, batch, M, N, K, a.data, M * K, b.data, K * N, out);
  return record(op, out, outShape, [a, b], (g, needs) => {
    let ga: Float32Array | null = null, gb: Float32Array | null = null;
    if (needs[0]) {
      // ga = g b^T
      ga = empty(a.size);
      if (shared) gemm(false, true, batch * M, K, N, g, b.data, ga);
      else gemmBatched(false, true, batch, M, K, N, g, M * N, b.data, K * N, ga);
    }
    if (needs[1]) {
      // gb = a^T g (summed over the batch when b is shared)
      gb = empty(b.size);
      if (shared) gemm(true, false, K, N, batch * M, a.data, g, gb);
      else gemmBatched(true, false, batch, K, N, M, a.data, M * K, g, M * N, gb);
    }
    return [ga, gb];
  });
}

/** PyTorch's nn.Linear: x [..., in], weight [out, in], bias [out] -> y = x W^T + b, shape [..., out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const op = 'linear';
  checkTensor(op, 'x', x);
  checkTensor(op, 'weight', weight);
  if (x.ndim < 1) throw new RangeError(`${op}: x must have at least 1 dim [..., in], got shape ${shapeString(x.shape)}`);
  const inF = x.shape[x.ndim - 1];
  if (weight.ndim !== 2 || weight.shape[1] !== inF)
    throw new RangeError(`${op}: weight must have shape [out, in] with in = ${inF} (last dim of x), got ${shapeString(weight.shape)}`);
  const outF = weight.shape[0];
  const hasBias = bias !== undefined && bias !== null;
  if (hasBias) {
    checkTensor(op, 'bias', bias);
    if (bias.ndim !== 1 || bias.shape[0] !== outF)
      throw new RangeError(`${op}: bias must have shape [${outF}] (out features of weight), got ${shapeString(bias.shape)}`);
  }
  const rows = numel(x.shape.slice(0, -1));
  const outShape = [...x.shape.slice(0, -1), outF];
  checkOutput(op, 'output', outShape, `x ${shapeString(x.shape)} and weight ${shapeString(weight.shape)}`);
  if (rows * outF === 0) return recordZeros(op, outShape, hasBias ? [x, weight, bias] : [x, weight]);
  const y = empty(rows * outF);
  if (hasBias) for (let r = 0; r < rows; r++) y.set(bias.data, r * outF);
  gemm(false, true, rows, outF, inF, x.data, weight.data, y, hasBias ? 1 : 0);
  const inputs = hasBias ? [x, weight, bias] : [x, weight];
  return record(op, y, outShape, inputs, (g, needs) => {
    let gx: Float32Array | null = null, gw: Float32Array | null = null, gb: Float32Array | null = null;
    if (needs[0]) {
      gx = empty(x.size);
      gemm(false, false, rows, inF, outF, g, weight.data, gx); // g W
    }
    if (needs[1]) {
      gw = empty(weight.size);
      gemm(true, false, outF, inF, rows, g, x.data, gw); // g^T x
    }
    if (hasBias && needs[2]) {
      gb = empty(outF);
      gemm(false, false, 1, outF, rows, new Float32Array(rows).fill(1), g, gb); // 1^T g: column sums
    }
    return hasBias ? [gx, gw, gb] : [gx, gw];
  });
}
