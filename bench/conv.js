// Dense and grouped conv2d timings through the public API: forward, and the input and weight
// gradients each timed alone. Medians of `reps`.
//   node bench/conv.js [--reps 7] [--threads 2] [--quick]     prints one JSON line per row
// PyTorch side by side: node bench/run.js --only conv, or bench/torch_peer.py.
'use strict';
const lk = require('..');
const { timeMs, passFields, randomTensor, withThreads, runAsScript } = require('./timing');

const TIMED = { count: true };

// ResNet-50 and ViT-B/16 convolutions, batch 1 (one attack step on one image).
const CONV_CASES = [
  { name: 'resnet 3x3 64->64 @56', N: 1, Cin: 64, H: 56, W: 56, Cout: 64, K: 3, stride: 1, padding: 1, groups: 1 },
  { name: 'resnet 1x1 256->64 @56', N: 1, Cin: 256, H: 56, W: 56, Cout: 64, K: 1, stride: 1, padding: 0, groups: 1 },
  { name: 'resnet stem 7x7 s2 3->64 @224', N: 1, Cin: 3, H: 224, W: 224, Cout: 64, K: 7, stride: 2, padding: 3, groups: 1 },
  { name: 'vit patch 16x16 s16 3->768 @224', N: 1, Cin: 3, H: 224, W: 224, Cout: 768, K: 16, stride: 16, padding: 0, groups: 1 },
  { name: 'resnext 3x3 g32 128->128 @56', N: 1, Cin: 128, H: 56, W: 56, Cout: 128, K: 3, stride: 1, padding: 1, groups: 32 },
];

/** Rows { name, pass, ...the case's sizes, ms, range_ms, gflops, useful_gflops (taps that meet the
 * input), peak_pct, useful_peak_pct } for forward, and for the input and weight gradients (each
 * backward timed alone). */
async function benchConv({ reps = 7, threads = 2, quick = false } = {}) {
  return withThreads(threads, async () => {
    const rows = [];
    const machine = lk.machinePeak();
    for (const c of quick ? CONV_CASES.slice(0, 2) : CONV_CASES) {
      const opts = { stride: c.stride, padding: c.padding, groups: c.groups };
      const x = randomTensor([c.N, c.Cin, c.H, c.W]);
      const w = randomTensor([c.Cout, c.Cin / c.groups, c.K, c.K]);
      const g = randomTensor(lk.ops.conv2d(x, w, opts).shape).data;
      const backward = (which) =>
        timeMs((y) => y.backward(g), reps, {
          ...TIMED,
          setup: () => {
            const xr = which === 'x' ? lk.tensor(x.data, x.shape, { requiresGrad: true }) : x;
            const wr = which === 'w' ? lk.tensor(w.data, w.shape, { requiresGrad: true }) : w;
            return lk.ops.conv2d(xr, wr, opts);
          },
        });
      const timings = [
        ['fwd', timeMs(() => lk.ops.conv2d(x, w, opts), reps, TIMED)],
        ['grad x', backward('x')],
        ['grad W', backward('w')],
      ];
      for (const [pass, t] of timings) rows.push({ ...c, name: `${c.name} ${pass}`, pass, ...passFields('', t, machine) });
      await new Promise((r) => setImmediate(r));
    }
    return rows;
  });
}

module.exports = { benchConv };

runAsScript(module, benchConv);
