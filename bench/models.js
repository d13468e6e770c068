// End-to-end models through the public API: RepLKNet-31B and ViT-B/16 at 224x224 with random
// (seeded) weights, forward and forward + input gradient (one attack step: cross-entropy summed
// over the batch, backward to the input only; src/perf/passes.ts). RepLKNet also after reparam()
// (inference form). GFLOP/s and % of peak by the profiler's count (RepLKNet-31B 15.4 GMAC per image).
// Run directly: node bench/models.js [reps] [threads] [batches]  -> one JSON line per case.
'use strict';
const lk = require('..');
const { timeMs, passFields } = require('./timing');
const { modelPass, seededImages } = require('../lib/perf/passes');

const MODELS = ['replknet31b', 'vit_b16'];

/** A seeded [batch, 3, size, size] input in [0, 1) (an LCG: the same images on every run). */
function input(batch, seed = 12345, size = 224) {
  return seededImages(batch, size, seed);
}

/** A forward and a forward + input gradient of the summed cross-entropy (lkvit profile's forward and
 * attack passes): fwd_* and fwd_bwd_* fields (ms, range, GFLOP/s, % of lk.machinePeak at the current threads). */
function timeModel(model, batch, reps, size = 224) {
  const machine = lk.machinePeak();
  // A model call takes 0.1-10 s: one warm-up call is enough (it also counts the FLOPs).
  const opts = { warmMs: 0, warmCalls: 1, count: true };
  const fwd = timeMs(modelPass(model, 'forward', batch, size), reps, opts);
  const fwdBwd = timeMs(modelPass(model, 'attack', batch, size), reps, opts);
  return { ...passFields('fwd', fwd, machine), ...passFields('fwd_bwd', fwdBwd, machine) };
}

/** The cases of the section: each model in its forms (RepLKNet also reparam'd) at each batch.
 * `onCase(row)` runs after each lkvit measurement (the bench then times PyTorch on the same case). */
async function benchModels({ reps = 3, threads = 0, batches = [1, 8], models = MODELS, onCase = async () => {} } = {}) {
  const prevThreads = lk.getNumThreads();
  lk.setNumThreads(threads);
  const rows = [];
  try {
    for (const name of models) {
      lk.manualSeed(1);
      const model = lk.createModel(name);
      const forms = model instanceof lk.RepLKNet ? ['train-form', 'reparam'] : ['train-form'];
      for (const form of forms) {
        if (form === 'reparam') model.reparam();
        for (const batch of batches) {
          const row = { name, form, batch, ...timeModel(model, batch, reps) };
          rows.push(row);
          await onCase(row);
        }
      }
    }
  } finally {
    lk.setNumThreads(prevThreads);
  }
  return rows;
}

module.exports = { benchModels, timeModel, input };

if (require.main === module) {
  const reps = Number(process.argv[2] ?? 3);
  const threads = Number(process.argv[3] ?? 0);
  const batches = (process.argv[4] ?? '1,8').split(',').map(Number);
  benchModels({ reps, threads, batches }).then((rows) => rows.forEach((r) => console.log(JSON.stringify(r))));
}
