// FLOPs of one native call, read from its arguments (the signatures in native/binding/*.cc).
// conventional: every multiply-add counted as 2, taps over padding included (fvcore's and the
// papers' count, doubled); useful: only the taps that meet the input (what the kernel must do).
// Calls not listed here count 0 FLOPs (normalisation, activations, pooling: memory-bound).

export interface Flops {
  conventional: number;
  useful: number;
}

type Counter = (args: readonly unknown[]) => Flops;

/** Kernel taps along one axis that land inside an input of `size`, summed over the outputs. */
export function tapsInside(
  size: number,
  kernel: number,
  stride: number,
  pad: number,
  dilation: number,
): { outputs: number; taps: number } {
  const outputs = Math.floor((size + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
  let taps = 0;
  for (let o = 0; o < outputs; o++) {
    const start = o * stride - pad; // input index of tap 0
    const first = Math.max(0, Math.ceil(-start / dilation));
    const last = Math.min(kernel - 1, Math.floor((size - 1 - start) / dilation));
    if (last >= first) taps += last - first + 1;
  }
  return { outputs: Math.max(0, outputs), taps };
}

const ints = (args: readonly unknown[], from: number, count: number) => args.slice(from, from + count).map(Number);

/** Output planes x input channels per group x taps (H taps x W taps: the axes are independent), 2 FLOPs each. */
function convFlops(
  planes: number,
  cinPerGroup: number,
  h: number,
  w: number,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  ph: number,
  pw: number,
  dh: number,
  dw: number,
): Flops {
  const H = tapsInside(h, kh, sh, ph, dh);
  const W = tapsInside(w, kw, sw, pw, dw);
  return {
    conventional: 2 * planes * cinPerGroup * H.outputs * W.outputs * kh * kw,
    useful: 2 * planes * cinPerGroup * H.taps * W.taps,
  };
}

/** dwconv2d*(arrays..., N, C, H, W, KH, KW, strideH, strideW, padH, padW), the geometry from `at`. */
const dwconv =
  (at: number): Counter =>
  (args) => {
    const [N, C, H, W, KH, KW, sH, sW, pH, pW] = ints(args, at, 10);
    return convFlops(N * C, 1, H, W, KH, KW, sH, sW, pH, pW, 1, 1);
  };

/** conv2d*(arrays..., n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups), from `at`. */
const conv =
  (at: number): Counter =>
  (args) => {
    const [n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups] = ints(args, at, 14);
    return convFlops(n * cout, cin / groups, h, w, kh, kw, sh, sw, ph, pw, dh, dw);
  };

const same = (f: number): Flops => ({ conventional: f, useful: f });

export const FLOP_COUNTERS: Record<string, Counter> = {
  dwconv2dForward: dwconv(4),
  dwconv2dBackwardInput: dwconv(3),
  dwconv2dBackwardWeight: dwconv(3),
  conv2dForward: conv(4),
  conv2dBackwardInput: conv(3),
  conv2dBackwardWeight: conv(3),
  // gemm(transA, transB, M, N, K, ...), gemmBatched(transA, transB, batch, M, N, K, ...)
  gemm: (a) => same(2 * Number(a[2]) * Number(a[3]) * Number(a[4])),
  gemmBatched: (a) => same(2 * Number(a[2]) * Number(a[3]) * Number(a[4]) * Number(a[5])),
  // attentionForward(B, H, Tq, Tk, d, dv, ...): S = Q K^T and O = P V.
  attentionForward: (a) => {
    const [B, H, Tq, Tk, d, dv] = ints(a, 0, 6);
    return same(2 * B * H * Tq * Tk * (d + dv));
  },
  // attentionBackward(B, H, Tq, Tk, d, dv, scale, q, k, v, out, lse, gradOut, gradQ?, gradK?, gradV?):
  // dV = P^T dO, dP = dO V^T (for dQ or dK), dQ = dS K, dK = dS^T Q; twice the forward with all
  // three (the conventional count; the recomputed S = Q K^T is not work the pass needs).
  attentionBackward: (a) => {
    const [B, H, Tq, Tk, d, dv] = ints(a, 0, 6);
    const wantQ = a[13] != null,
      wantK = a[14] != null,
      wantV = a[15] != null;
    const perPair = (wantV ? dv : 0) + (wantQ || wantK ? dv : 0) + (wantQ ? d : 0) + (wantK ? d : 0);
    return same(2 * B * H * Tq * Tk * perPair);
  },
};

/** FLOPs of a call of native function `name` with `args`; 0 for uncounted functions or bad arguments. */
export function flopsOf(name: string, args: readonly unknown[]): Flops {
  const counter = Object.prototype.hasOwnProperty.call(FLOP_COUNTERS, name) ? FLOP_COUNTERS[name] : undefined;
  if (!counter) return { conventional: 0, useful: 0 };
  const f = counter(args);
  return Number.isFinite(f.conventional) && Number.isFinite(f.useful) && f.conventional >= 0
    ? f
    : { conventional: 0, useful: 0 };
}
