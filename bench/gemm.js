// SGEMM timings through the public API (matmul, linear). Medians of `reps`.
// GEMM flavours: "NN" = matmul, "NT" = linear forward (x W^T), and the two linear backward
// products timed alone: input gradient g W ("NN") and weight gradient g^T x ("TN").
//   node bench/gemm.js [--reps 7] [--threads 2] [--quick]     prints one JSON line per row
// PyTorch side by side: node bench/run.js --only gemm (matmul shapes), or bench/torch_peer.py.
'use strict';
const lk = require('..');
const { timeMs, passFields, randomTensor, withThreads, runAsScript } = require('./timing');

const TIMED = { count: true };

const VIT_TOKENS = 197 * 8; // ViT-B/16, batch 8

// Timed products: kind 'matmul' (NN), 'linear' (NT forward), 'linear-dx' (NN backward),
// 'linear-dw' (TN backward). M, N, K are the GEMM's own dimensions.
function gemmCases(quick) {
  const cases = [
    { name: 'matmul 512', kind: 'matmul', M: 512, N: 512, K: 512 },
    { name: 'matmul 1024', kind: 'matmul', M: 1024, N: 1024, K: 1024 },
  ];
  // ViT-B linears: qkv (768 -> 2304), fc1 (768 -> 3072), proj (768 -> 768), fc2 (3072 -> 768).
  const linears = [
    ['qkv', 768, 2304],
    ['fc1', 768, 3072],
    ['proj', 768, 768],
    ['fc2', 3072, 768],
  ];
  for (const [layer, inF, outF] of quick ? linears.slice(0, 1) : linears) {
    cases.push({ name: `vit ${layer} fwd (NT)`, kind: 'linear', M: VIT_TOKENS, N: outF, K: inF });
    cases.push({ name: `vit ${layer} grad x (NN)`, kind: 'linear-dx', M: VIT_TOKENS, N: inF, K: outF });
    cases.push({ name: `vit ${layer} grad W (TN)`, kind: 'linear-dw', M: outF, N: inF, K: VIT_TOKENS });
  }
  return cases;
}

function timeGemmCase(c, reps) {
  if (c.kind === 'matmul') {
    const a = randomTensor([c.M, c.K]),
      b = randomTensor([c.K, c.N]);
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
      rows.push({
        name: c.name,
        kind: c.kind,
        M: c.M,
        N: c.N,
        K: c.K,
        ...passFields('', timeGemmCase(c, reps), machine),
      });
      await new Promise((r) => setImmediate(r));
    }
    return rows;
  });
}

module.exports = { benchGemm };

runAsScript(module, benchGemm);
