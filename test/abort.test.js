// The synchronous (promise-returning) library calls stop at the next batch when their signal is
// aborted, with an AbortError, and report the batches they finished before that.
'use strict';
const test = require('ava');
const { lk, rng } = require('./helpers');

function setup() {
  lk.manualSeed(0);
  const model = lk.createModel('vit_ti16', {
    imageSize: 16,
    patchSize: 8,
    depth: 1,
    embedDim: 16,
    numHeads: 2,
    numClasses: 4,
  });
  const x = rng(3).array([12, 3, 16, 16], 0, 1);
  const data = lk.tensorDataset(
    lk.tensor(Float32Array.from(x.data), x.shape),
    Int32Array.from({ length: 12 }, (_, i) => i % 4),
  );
  return { model, data };
}

// A signal that turns aborted once `after` batches have reported progress.
function abortAfter(after) {
  const c = new AbortController();
  let batches = 0;
  return {
    signal: c.signal,
    onProgress: () => {
      if (++batches === after) c.abort();
    },
    count: () => batches,
  };
}

const CALLS = {
  runAttack: (m, d, o) => lk.runAttack(m, d, { attack: 'fgsm', options: { eps: 0.01 }, batchSize: 4, ...o }),
  occlusion: (m, d, o) => lk.analyses.occlusion(m, d, { ratios: [0.5], patchSize: 8, batchSize: 4, ...o }),
  frequencyNoise: (m, d, o) => lk.analyses.frequencyNoise(m, d, { bands: [0, 0.5], batchSize: 4, ...o }),
  lesion: (m, d, o) => lk.analyses.lesion(m, d, { trials: 1, batchSize: 4, ...o }),
  featureVariance: (m, d, o) => lk.analyses.featureVariance(m, d, { batchSize: 4, ...o }),
  attackCurve: (m, d, o) => lk.analyses.attackCurve(m, d, { attack: 'fgsm', values: [0.01, 0.02], batchSize: 4, ...o }),
};

for (const [name, call] of Object.entries(CALLS)) {
  test(`${name} rejects with an AbortError within a batch of the abort`, async (t) => {
    const { model, data } = setup();
    const a = abortAfter(1);
    const err = await t.throwsAsync(call(model, data, { signal: a.signal, onProgress: a.onProgress }));
    t.is(err.name, 'AbortError');
    t.regex(err.message, /aborted/);
    t.is(a.count(), 1, 'no progress is reported after the abort');
    // A signal that never fires changes nothing.
    await t.notThrowsAsync(call(model, data, { signal: new AbortController().signal }));
  });
}

test('a signal that is not one is refused, naming the option', async (t) => {
  const { model, data } = setup();
  await t.throwsAsync(CALLS.occlusion(model, data, { signal: 'stop' }), {
    instanceOf: TypeError,
    message: /signal must be an AbortSignal/,
  });
});
