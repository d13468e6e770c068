// The 2-D discrete Fourier transform in float64 for the frequency analyses: separable, with a
// precomputed twiddle table (O(HW(H+W)), fast enough for 224 x 224 without an FFT's size rules).

/** Complex H x W image, row-major. */
export interface Complex2d {
  re: Float64Array;
  im: Float64Array;
  height: number;
  width: number;
}

const twiddles = new Map<number, { cos: Float64Array; sin: Float64Array }>();

function twiddleTable(n: number): { cos: Float64Array; sin: Float64Array } {
  let t = twiddles.get(n);
  if (!t) {
    t = { cos: new Float64Array(n), sin: new Float64Array(n) };
    for (let k = 0; k < n; k++) {
      t.cos[k] = Math.cos((2 * Math.PI * k) / n);
      t.sin[k] = Math.sin((2 * Math.PI * k) / n);
    }
    twiddles.set(n, t);
  }
  return t;
}

// 1-D DFT of `count` sequences of length n at offset o + i * step (i < n), sequences `next` apart.
function dftLines(a: Complex2d, n: number, count: number, step: number, next: number, inverse: boolean): void {
  const { cos, sin } = twiddleTable(n);
  const sign = inverse ? 1 : -1;
  const re = new Float64Array(n),
    im = new Float64Array(n);
  for (let line = 0; line < count; line++) {
    const o = line * next;
    for (let k = 0; k < n; k++) {
      let sr = 0,
        si = 0;
      for (let j = 0, idx = 0; j < n; j++, idx += k, idx >= n && (idx -= n)) {
        const xr = a.re[o + j * step],
          xi = a.im[o + j * step];
        const c = cos[idx],
          s = sign * sin[idx];
        sr += xr * c - xi * s;
        si += xr * s + xi * c;
      }
      re[k] = sr;
      im[k] = si;
    }
    for (let k = 0; k < n; k++) {
      a.re[o + k * step] = inverse ? re[k] / n : re[k];
      a.im[o + k * step] = inverse ? im[k] / n : im[k];
    }
  }
}

/** In-place 2-D DFT (numpy.fft.fft2 convention; the inverse divides by H * W). */
export function dft2(a: Complex2d, inverse = false): Complex2d {
  const { height: H, width: W } = a;
  dftLines(a, W, H, 1, W, inverse); // rows
  dftLines(a, H, W, W, 1, inverse); // columns
  return a;
}

/** Signed frequency of DFT index k of n (numpy.fft.fftfreq times n). */
export function signedFrequency(k: number, n: number): number {
  return k <= Math.floor((n - 1) / 2) ? k : k - n;
}

/**
 * Normalised frequency of DFT bin (ky, kx): the square (Chebyshev) radius max(|fy| / (H/2), |fx| / (W/2)),
 * 0 at the centre of the centred spectrum and 1 (pi) at its border.
 */
export function normalizedFrequency(ky: number, kx: number, H: number, W: number): number {
  return Math.max(Math.abs(signedFrequency(ky, H)) / (H / 2), Math.abs(signedFrequency(kx, W)) / (W / 2));
}

/** 1 for the bins of the square annulus lo <= radius < hi (radius 1 counts in a band reaching 1). */
export function bandMask(H: number, W: number, lo: number, hi: number): Uint8Array {
  const m = new Uint8Array(H * W);
  for (let ky = 0; ky < H; ky++)
    for (let kx = 0; kx < W; kx++) {
      const r = normalizedFrequency(ky, kx, H, W);
      m[ky * W + kx] = r >= lo - 1e-12 && (r < hi - 1e-12 || (hi >= 1 && r <= 1)) ? 1 : 0;
    }
  return m;
}

/** The real part of the inverse DFT of `spectrum` restricted to `mask` (amplitude and phase kept inside). */
export function bandLimited(spectrum: Complex2d, mask: Uint8Array): Float64Array {
  const a: Complex2d = {
    re: spectrum.re.slice(),
    im: spectrum.im.slice(),
    height: spectrum.height,
    width: spectrum.width,
  };
  for (let i = 0; i < mask.length; i++) if (!mask[i]) a.re[i] = a.im[i] = 0;
  return dft2(a, true).re;
}

/**
 * Yin et al.'s Fourier basis image for the centred frequency (fy, fx): cos(2 pi (fy r / H + fx c / W)),
 * real, scaled to unit L2 norm; its spectrum is non-zero only at (fy, fx) and (-fy, -fx).
 */
export function fourierBasis(H: number, W: number, fy: number, fx: number): Float64Array {
  const u = new Float64Array(H * W);
  let norm = 0;
  for (let r = 0; r < H; r++)
    for (let c = 0; c < W; c++) {
      const v = Math.cos(2 * Math.PI * ((fy * r) / H + (fx * c) / W));
      u[r * W + c] = v;
      norm += v * v;
    }
  norm = Math.sqrt(norm);
  for (let i = 0; i < u.length; i++) u[i] /= norm;
  return u;
}
