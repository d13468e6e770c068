// Bicubic resampling of [C, H, W] planes as PyTorch's F.interpolate(mode='bicubic',
// align_corners=False, antialias=False) computes it: what timm uses to resample a ViT's pos_embed.

// Keys' cubic convolution with A = -0.75 (PyTorch's choice; OpenCV's too).
const A = -0.75;
function cubicWeights(t: number): [number, number, number, number] {
  const near = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1; // |x| <= 1
  const far = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; // 1 < |x| < 2
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

// For each output index: the four source indices (clamped at the border, as PyTorch) and weights.
function taps(inSize: number, outSize: number): { index: Int32Array; weight: Float64Array } {
  const scale = inSize / outSize;
  const index = new Int32Array(4 * outSize),
    weight = new Float64Array(4 * outSize);
  for (let o = 0; o < outSize; o++) {
    // Half-pixel centres; unlike linear modes, PyTorch does not clamp a negative source for cubic.
    const src = (o + 0.5) * scale - 0.5;
    const i0 = Math.floor(src);
    const w = cubicWeights(src - i0);
    for (let k = 0; k < 4; k++) {
      index[4 * o + k] = Math.min(inSize - 1, Math.max(0, i0 - 1 + k));
      weight[4 * o + k] = w[k];
    }
  }
  return { index, weight };
}

/** Resizes `data` [C, H, W] to [C, h, w] with PyTorch's bicubic (align_corners=False), in float64. */
export function bicubicResize(
  data: Float32Array,
  shape: readonly [number, number, number],
  size: readonly [number, number],
): Float32Array {
  const [C, H, W] = shape,
    [h, w] = size;
  for (const [name, v] of [
    ['C', C],
    ['H', H],
    ['W', W],
    ['h', h],
    ['w', w],
  ] as const)
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`bicubicResize: ${name} must be a positive integer, got ${String(v)}`);
  if (data.length !== C * H * W)
    throw new RangeError(`bicubicResize: data has ${data.length} values, expected C*H*W = ${C * H * W}`);
  const ty = taps(H, h),
    tx = taps(W, w);
  const out = new Float32Array(C * h * w);
  for (let c = 0; c < C; c++) {
    const plane = c * H * W;
    for (let oy = 0; oy < h; oy++) {
      for (let ox = 0; ox < w; ox++) {
        let s = 0;
        for (let ky = 0; ky < 4; ky++) {
          const row = plane + ty.index[4 * oy + ky] * W;
          let r = 0;
          for (let kx = 0; kx < 4; kx++) r += tx.weight[4 * ox + kx] * data[row + tx.index[4 * ox + kx]];
          s += ty.weight[4 * oy + ky] * r;
        }
        out[(c * h + oy) * w + ox] = s;
      }
    }
  }
  return out;
}
