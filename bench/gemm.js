// SGEMM and conv2d timings through the public API (matmul, linear, conv2d). Medians of `reps`.
// GEMM flavours: "NN" = matmul, "NT" = linear forward (x W^T), and the two linear backward
// products timed alone: input gradient g W ("NN") and weight gradient g^T x ("TN").
//   node bench/gemm.js [--reps 7] [--threads 2] [--quick]     prints one JSON line per row
// PyTorch side by side: node bench/run.js --only gemm (matmul shapes), or bench/torch_peer.py.
'use strict';
const lk = require('..');

function randomTensor(shape, requiresGrad = false) {
  const t = lk.zeros(shape, { requiresGrad });
  for (let i = 0; i < t.data.length; i++) t.data[i] = Math.random() * 2 - 1;
  return t;
}

// bench/timing.js's rule; setup() (untimed) runs before each call and its result goes to the call.
const { timeMs, passFields } = require('./timing');
const TIMED = { count: true };

async function withThreads(threads, fn) {
  const previous = lk.getNumThreads();
  lk.setNumThreads(threads);
  try {
    return await fn();
  } finally {
    lk.setNumThreads(previous);
  }
}

const VIT_TOKENS = 197 * 8; // ViT-B/16, batch 8

// Timed products: kind 'matmul' (NN), 'linear' (NT forward), 'linear-dx' (NN backward),
// 'linear-dw' (TN backward). M, N, K are the GEMM's own dimensions.
function gemmCases(quick) {
  const cases = [
    { name: 'matmul 512', kind: 'matmul', M: 512, N: 512, K: 512 },
    { name: 'matmul 1024', kind: 'matmul', M: 1024, N: 1024, K: 1024 },
  ];
  // ViT-B linears: qkv (768 -> 2304), fc1 (768 -> 3072), proj (768 -> 768), fc2 (3072 -> 768).
  const linears = [['qkv', 768, 2304], ['fc1', 768, 3072], ['proj', 768, 768], ['fc2', 3072, 768]];
  for (const [layer, inF, outF] of quick ? linears.slice(0, 1) : linears) {
    cases.push({ name: `vit ${layer} fwd (NT)`, kind: 'linear', M: VIT_TOKENS, N: outF, K: inF });
    cases.push({ name: `vit ${layer} grad x (NN)`, kind: 'linear-dx', M: VIT_TOKENS, N: inF, K: outF });
    cases.push({ name: `vit ${layer} grad W (TN)`, kind: 'linear-dw', M: outF, N: inF, K: VIT_TOKENS });
  }
  return cases;
}

function timeGemmCase(c, reps) {
  if (c.kind === 'matmul') {
    const a = randomTensor([c.M, c.K]), b = randomTensor([c.K, c.N]);
    return timeMs(() => lk.ops.matmul(a, b), reps, TIMED);
  }
  // linear: x [tokens, in], W [out, in]
  const tokens = c.kind === 'linear-dw' ? c.K : c.M;
  const inF = c.kind === 'linear' ? c.K : c.N;
  const outF = c.kind === 'linear' ? c.N : c.kind === 'linear-dx' ? c.K : c.M;
  const x = randomTensor([tokens, inF], c.kind === 'linear-dx');
  const w = randomTensor([outF, inF], c.kind === 'linear-dw');
  if (c.kind === 'linear') return timeMs(() => lk.ops.linear(x, w), reps, TIMED);
  const g = randomTensor([tokens, outF]).data;
  // Only the backward is timed; requiresGrad on one input makes it a single GEMM.
  return timeMs((y) => y.backward(g), reps, {
    ...TIMED,
    setup: () => {
      x.grad = null;
      w.grad = null;
      return lk.ops.linear(x, w);
    },
  });
}

/** Rows { name, kind, M, N, K, ms, range_ms, gflops, useful_gflops, peak_pct, useful_peak_pct }. */
async function benchGemm({ reps = 7, threads = 2, quick = false } = {}) {
  return withThreads(threads, async () => {
    const rows = [];
    const machine = lk.machinePeak();
    for (const c of gemmCases(quick)) {
      rows.push({ name: c.name, kind: c.kind, M: c.M, N: c.N, K: c.K, ...passFields('', timeGemmCase(c, reps), machine) });
      await new Promise((r) => setImmediate(r));
    }
    return rows;
  });
}

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

module.exports = { benchGemm, benchConv };

if (require.main === module) {
  const args = process.argv.slice(2);
  const flag = (name, def) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : def;
  };
  const opts = { reps: flag('reps', 7), threads: flag('threads', 2), quick: args.includes('--quick') };
  (async () => {
    for (const r of await benchGemm(opts)) console.log(JSON.stringify(r));
    for (const r of await benchConv(opts)) console.log(JSON.stringify(r));
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
