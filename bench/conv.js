// Dense and grouped conv2d timings through the public API: forward, and the input and weight
// gradients each timed alone. Medians of `reps`. benchPointwise: RepLKNet-31B's 1x1 convolutions
// (two thirds of its FLOPs), forward and input gradient, at batch 1 and 8.
//   node bench/conv.js [--reps 7] [--threads 2] [--quick]     prints one JSON line per row
//   node bench/conv.js --pointwise [--reps 7] [--threads 2] [--quick]
// PyTorch side by side: node bench/run.js --only conv, or bench/torch_peer.py.
'use strict';
const lk = require('..');
const { timeMs, passFields, randomTensor, withThreads, runAsScript } = require('./timing');

const TIMED = { count: true };

// ResNet-50 and ViT-B/16 convolutions, batch 1 (one attack step on one image).
const CONV_CASES = [
  { name: 'resnet 3x3 64->64 @56', N: 1, Cin: 64, H: 56, W: 56, Cout: 64, K: 3, stride: 1, padding: 1, groups: 1 },
  { name: 'resnet 1x1 256->64 @56', N: 1, Cin: 256, H: 56, W: 56, Cout: 64, K: 1, stride: 1, padding: 0, groups: 1 },
  {
    name: 'resnet stem 7x7 s2 3->64 @224',
    N: 1,
    Cin: 3,
    H: 224,
    W: 224,
    Cout: 64,
    K: 7,
    stride: 2,
    padding: 3,
    groups: 1,
  },
  {
    name: 'vit patch 16x16 s16 3->768 @224',
    N: 1,
    Cin: 3,
    H: 224,
    W: 224,
    Cout: 768,
    K: 16,
    stride: 16,
    padding: 0,
    groups: 1,
  },
  {
    name: 'resnext 3x3 g32 128->128 @56',
    N: 1,
    Cin: 128,
    H: 56,
    W: 56,
    Cout: 128,
    K: 3,
    stride: 1,
    padding: 1,
    groups: 32,
  },
];

// RepLKNet-31B's 1x1 convolutions, one GEMM per image: M = Cout, K = Cin, N = H*W. Per stage
// (C channels, S x S map): the block's pw1/pw2 (C -> C) and the ConvFFN's (C -> 4C, 4C -> C).
function pointwiseCases(quick) {
  const cases = [];
  for (const N of quick ? [1] : [1, 8])
    for (const [C, S] of [
      [128, 56],
      [256, 28],
      [512, 14],
      [1024, 7],
    ])
      for (const [Cin, Cout] of [
        [C, C],
        [C, 4 * C],
        [4 * C, C],
      ])
        cases.push({
          name: `replknet 1x1 ${Cin}->${Cout} @${S} N=${N}`,
          N,
          Cin,
          H: S,
          W: S,
          Cout,
          K: 1,
          stride: 1,
          padding: 0,
          groups: 1,
        });
  return cases;
}

// One case's timings: forward, and each gradient in `grads` ('x', 'w') timed alone (backward()
// of a fresh graph, the clock around it).
function timeConvCase(c, reps, grads) {
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
  return [
    ['fwd', timeMs(() => lk.ops.conv2d(x, w, opts), reps, TIMED)],
    ...grads.map((which) => [`grad ${which === 'x' ? 'x' : 'W'}`, backward(which)]),
  ];
}

async function benchCases(cases, grads, reps, threads) {
  return withThreads(threads, async () => {
    const rows = [];
    const machine = lk.machinePeak();
    for (const c of cases) {
      for (const [pass, t] of timeConvCase(c, reps, grads))
        rows.push({ ...c, name: `${c.name} ${pass}`, pass, ...passFields('', t, machine) });
      await new Promise((r) => setImmediate(r));
    }
    return rows;
  });
}

/** Rows { name, pass, ...the case's sizes, ms, range_ms, gflops, useful_gflops (taps that meet the
 * input), peak_pct, useful_peak_pct } for forward, and for the input and weight gradients (each
 * backward timed alone). */
async function benchConv({ reps = 7, threads = 2, quick = false } = {}) {
  return benchCases(quick ? CONV_CASES.slice(0, 2) : CONV_CASES, ['x', 'w'], reps, threads);
}

/** The same rows for RepLKNet-31B's 1x1 convolutions (forward and input gradient, the attack
 * step's passes), batch 1 and 8 (--quick: batch 1). */
async function benchPointwise({ reps = 7, threads = 2, quick = false } = {}) {
  return benchCases(pointwiseCases(quick), ['x'], reps, threads);
}

module.exports = { benchConv, benchPointwise };

runAsScript(module, process.argv.includes('--pointwise') ? benchPointwise : benchConv);
