// Depthwise conv2d timings through the public API (what users call): forward, forward + input
// gradient (an attack step), forward + input and weight gradients (a training step). Medians.
// Compare with PyTorch: /usr/bin/python3 /work/shared/peers/torch_dwconv.py (same flags).
//   node bench/dwconv.js [--kernels 3,31] [--shapes 1x128x56] [--reps 5] [--threads 2]
'use strict';
const lk = require('..');

const DEFAULT_KERNELS = [3, 5, 7, 9, 13, 17, 21, 27, 29, 31, 41, 51];
const DEFAULT_SHAPES = ['1x128x56', '1x256x28', '1x512x14', '1x1024x7', '8x128x56'];

const { timeMs, passFields } = require('./timing');

function randomTensor(shape, requiresGrad = false) {
  const t = lk.zeros(shape, { requiresGrad });
  for (let i = 0; i < t.data.length; i++) t.data[i] = Math.random() * 2 - 1;
  return t;
}

/** One row per (shape 'NxCxH' (square) or 'NxCxHxW', kernel): { N, C, H, W, K, and for each pass fwd,
 * fwd_bwd_input, fwd_bwd_all: PASS _ms (median), _range_ms, _gflops, _useful_gflops (taps that meet
 * the input), _peak_pct, _useful_peak_pct (of lk.machinePeak at `threads`) };
 * onRow(row), when given, sees each row as soon as it is measured. */
async function benchDwconv({
  kernels = DEFAULT_KERNELS,
  shapes = DEFAULT_SHAPES,
  reps = 5,
  threads = 2,
  onRow = null,
} = {}) {
  const previousThreads = lk.getNumThreads();
  lk.setNumThreads(threads);
  const rows = [];
  try {
    const machine = lk.machinePeak();
    for (const shape of shapes) {
      const [N, C, H, width] = String(shape).split('x').map(Number);
      const W = width ?? H;
      for (const K of kernels) {
        const opts = { padding: Math.floor(K / 2) };
        const x = randomTensor([N, C, H, W]);
        const w = randomTensor([C, 1, K, K]);
        const xg = randomTensor([N, C, H, W], true);
        const wg = randomTensor([C, 1, K, K], true);
        const fwd = timeMs(() => lk.ops.depthwiseConv2d(x, w, opts), reps, { count: true });
        const step = (wt) => () => {
          xg.grad = null;
          wt.grad = null;
          const y = lk.ops.depthwiseConv2d(xg, wt, opts);
          y.backward(lk.full(y.shape, 1)); // as the PyTorch peer does with ones_like
        };
        const row = {
          N,
          C,
          H,
          W,
          K,
          ...passFields('fwd', fwd, machine),
          ...passFields('fwd_bwd_input', timeMs(step(w), reps, { count: true }), machine),
          ...passFields('fwd_bwd_all', timeMs(step(wg), reps, { count: true }), machine),
        };
        rows.push(row);
        if (onRow) onRow(row);
        await new Promise((r) => setImmediate(r));
      }
    }
  } finally {
    lk.setNumThreads(previousThreads);
  }
  return rows;
}

module.exports = { benchDwconv };

if (require.main === module) {
  const args = process.argv.slice(2);
  const flag = (name, def) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
  };
  const kernels = flag('kernels', DEFAULT_KERNELS.join(',')).split(',').map(Number);
  const shapes = flag('shapes', DEFAULT_SHAPES.join(',')).split(',');
  const reps = Number(flag('reps', '5'));
  const threads = Number(flag('threads', '2'));
  const round = (v) => (Array.isArray(v) ? v.map(round) : Number.isInteger(v) ? v : Number(v.toPrecision(4)));
  const print = (r) =>
    console.log(JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v)]))));
  benchDwconv({ kernels, shapes, reps, threads, onRow: print }).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
