// End-to-end models through the public API: RepLKNet-31B and ViT-B/16 at 224x224 with random
// (seeded) weights, forward and forward + input gradient (one attack step: cross-entropy summed
// over the batch, backward to the input only). RepLKNet also after reparam() (inference form).
// Run directly: node bench/models.js [reps] [threads] [batches]  -> one JSON line per case.
'use strict';
const lk = require('..');
const { medianMs } = require('./timing');

const MODELS = ['replknet31b', 'vit_b16'];

/** A seeded [batch, 3, size, size] input in [0, 1) (an LCG: the same images on every run). */
function input(batch, seed = 12345, size = 224) {
  const data = new Float32Array(batch * 3 * size * size);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 4294967296;
  }
  return lk.tensor(data, [batch, 3, size, size]);
}

/** Medians of a forward and of a forward + input gradient of the summed cross-entropy, in ms. */
function timeModel(model, batch, reps, size = 224) {
  const x = input(batch, 12345, size);
  const labels = new Array(batch).fill(0);
  // A model call takes 0.1-10 s: one warm-up call is enough.
  const opts = { warmMs: 0, warmCalls: 1 };
  const fwd_ms = lk.noGrad(() => medianMs(() => model.forward(x), reps, opts));
  const fwd_bwd_ms = medianMs(() => {
    const xg = lk.tensor(x.data, x.shape, { requiresGrad: true });
    lk.ops.crossEntropy(model.forward(xg), labels, { reduction: 'sum' }).backward();
  }, reps, opts);
  return { fwd_ms, fwd_bwd_ms };
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
