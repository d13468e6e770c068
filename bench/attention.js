// Fused attention through the public API (ops.attention) at ViT shapes: forward, and forward +
// backward to q, k and v (bench/timing.js's rule). FLOPs as the profiler counts them: the forward's
// two products, 2 B H T T (d + dv), and twice that for the backward; GFLOP/s and % of lk.machinePeak.
// Run directly: node bench/attention.js [reps] [threads]  -> one JSON line per shape.
'use strict';
const lk = require('..');

const SHAPES = [
  { name: 'ViT-B', B: 1, H: 12, T: 197, d: 64 },
  { name: 'ViT-B', B: 8, H: 12, T: 197, d: 64 },
  { name: 'ViT-S', B: 1, H: 6, T: 197, d: 64 },
  { name: 'ViT-S', B: 8, H: 6, T: 197, d: 64 },
  { name: 'long', B: 1, H: 12, T: 1024, d: 64 },
];

function randomTensor(shape, seed, requiresGrad) {
  const n = shape.reduce((p, q) => p * q, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2147483648 - 1;
  }
  return lk.tensor(data, shape, { requiresGrad });
}

const { timeMs, passFields } = require('./timing');

async function benchAttention({ reps = 10, threads = 0, shapes = SHAPES } = {}) {
  const prevThreads = lk.getNumThreads();
  lk.setNumThreads(threads);
  const rows = [];
  try {
    const machine = lk.machinePeak();
    for (const { name, B, H, T, d } of shapes) {
      const shape = [B, H, T, d];
      const q = randomTensor(shape, 1, true),
        k = randomTensor(shape, 2, true),
        v = randomTensor(shape, 3, true);
      const gradOut = randomTensor(shape, 4, false).data;
      const fwd = lk.noGrad(() => timeMs(() => lk.ops.attention(q, k, v), reps, { count: true }));
      const fwdBwd = timeMs(
        () => {
          q.grad = k.grad = v.grad = null;
          lk.ops.attention(q, k, v).backward(gradOut);
        },
        reps,
        { count: true },
      );
      rows.push({
        name,
        B,
        H,
        T,
        d,
        threads: lk.getNumThreads(),
        ...passFields('fwd', fwd, machine),
        ...passFields('fwd_bwd', fwdBwd, machine),
      });
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    lk.setNumThreads(prevThreads);
  }
  return rows;
}

module.exports = { benchAttention };

if (require.main === module) {
  const reps = Number(process.argv[2] ?? 10);
  const threads = Number(process.argv[3] ?? 0);
  benchAttention({ reps, threads }).then((rows) => rows.forEach((r) => console.log(JSON.stringify(r))));
}
