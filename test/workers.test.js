// The addon loads in worker threads too (the off-main-thread API of a later milestone builds on it):
// two workers and the main thread running kernels at once share one pool; a call that finds it busy
// runs inline on its own thread.
// Results must be identical to a quiet single call.
'use strict';
const test = require('ava');
const path = require('path');
const { Worker } = require('worker_threads');
const lk = require('..');

const script = `
const { parentPort, workerData } = require('worker_threads');
const lk = require(workerData.root);
const x = lk.tensor(Float32Array.from({ length: 2 * 16 * 20 * 20 }, (_, i) => Math.sin(i)), [2, 16, 20, 20]);
const w = lk.tensor(Float32Array.from({ length: 16 * 13 * 13 }, (_, i) => Math.cos(i) / 169), [16, 1, 13, 13]);
let y;
for (let i = 0; i < 200; i++) y = lk.ops.depthwiseConv2d(x, w, { padding: 6 });
parentPort.postMessage(y.data);
`;

test('two worker threads and the main thread compute concurrently and agree', async (t) => {
  const root = path.join(__dirname, '..');
  const run = () =>
    new Promise((resolve, reject) => {
      const wk = new Worker(script, { eval: true, workerData: { root } });
      wk.once('message', resolve);
      wk.once('error', reject);
    });
  const pending = [run(), run()];
  const x = lk.tensor(
    Float32Array.from({ length: 2 * 16 * 20 * 20 }, (_, i) => Math.sin(i)),
    [2, 16, 20, 20],
  );
  const w = lk.tensor(
    Float32Array.from({ length: 16 * 13 * 13 }, (_, i) => Math.cos(i) / 169),
    [16, 1, 13, 13],
  );
  let mine;
  for (let i = 0; i < 200; i++) mine = lk.ops.depthwiseConv2d(x, w, { padding: 6 });
  const theirs = await Promise.all(pending);
  for (const d of theirs) t.deepEqual([...d], [...mine.data]);
});
