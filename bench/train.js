// Training steps through the public API: one AdamW step (train-mode forward, cross-entropy with
// label smoothing 0.1, backward to every parameter, the update) on the demo's three models at
// batch 64 on 32x32 inputs, and on RepLKNet-31B at 224x224, with seeded random weights.
// Run directly: node bench/train.js [reps] [threads] -> one JSON line per case.
'use strict';
const lk = require('..');
const { timeMs, passFields } = require('./timing');
const { modelPass } = require('../lib/perf/passes');
const { LARGE_KERNEL_CONFIG, SMALL_KERNEL_CONFIG, VIT_CONFIG } = require('../lib/demo/models');

// `name` and `overrides` build the same architecture on both sides (createModel and torch_models.build).
const CASES = [
  { label: 'demo RepLKNet 13x13', name: 'replknet31b', overrides: LARGE_KERNEL_CONFIG, batch: 64, size: 32 },
  { label: 'demo RepLKNet 3x3', name: 'replknet31b', overrides: SMALL_KERNEL_CONFIG, batch: 64, size: 32 },
  { label: 'demo ViT 8x8 patches', name: 'vit_ti16', overrides: VIT_CONFIG, batch: 64, size: 32 },
  { label: 'RepLKNet-31B', name: 'replknet31b', overrides: {}, batch: 4, size: 224 },
];

/** step_* fields of one training step (lkvit profile's train pass): ms, range, GFLOP/s, % of peak. */
function timeStep(model, batch, size, reps) {
  const t = timeMs(modelPass(model, 'train', batch, size), reps, { warmMs: 0, warmCalls: 2, count: true });
  return passFields('step', t, lk.machinePeak());
}

async function benchTrain({ reps = 5, threads = 0, cases = CASES, onCase = async () => {} } = {}) {
  const prevThreads = lk.getNumThreads();
  lk.setNumThreads(threads);
  const rows = [];
  try {
    for (const c of cases) {
      lk.manualSeed(1);
      const model = lk.createModel(c.name, c.overrides);
      const row = {
        ...c,
        params: model.numParameters(),
        ...timeStep(model, c.batch, c.size, c.size === 224 ? Math.min(reps, 3) : reps),
      };
      rows.push(row);
      await onCase(row);
    }
  } finally {
    lk.setNumThreads(prevThreads);
  }
  return rows;
}

module.exports = { benchTrain, CASES };

if (require.main === module) {
  const reps = Number(process.argv[2] ?? 5);
  const threads = Number(process.argv[3] ?? 0);
  benchTrain({
    reps,
    threads,
    onCase: async (r) =>
      console.log(JSON.stringify({ label: r.label, batch: r.batch, params: r.params, step_ms: r.step_ms })),
  });
}
