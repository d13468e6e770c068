// 23,000 forward/backward calls keep resident memory flat: native code allocates no tensors
// (outputs are GC-managed Float32Arrays) and frees its scratch memory on return. RSS first climbs
// by 15-30 MiB over some 10,000 calls while malloc keeps freed blocks (lkvit raises its trim
// threshold, see the README's Limits) and then stays flat; the bound over 20,000 calls after a
// warm-up still fails any leak of 2 KiB per call (a single leaked tensor here is 18 KiB).
'use strict';
const test = require('ava');
const lk = require('..');
const { ops } = lk;

function rss() {
  global.gc();
  global.gc();
  return process.memoryUsage().rss;
}

test('23,000 forward/backward iterations keep RSS flat', (t) => {
  t.truthy(global.gc, 'run with --expose-gc (package.json ava.nodeArguments)');
  const x0 = new Float32Array(2 * 16 * 12 * 12).map((_, i) => Math.sin(i));
  const w0 = new Float32Array(16 * 7 * 7).map((_, i) => Math.cos(i) / 49);
  const step = () => {
    const x = lk.tensor(x0.slice(), [2, 16, 12, 12], { requiresGrad: true });
    const w = lk.tensor(w0.slice(), [16, 1, 7, 7], { requiresGrad: true });
    const y = ops.relu(ops.depthwiseConv2d(x, w, { padding: 3 }));
    const logits = ops.globalAvgPool2d(y);
    const loss = ops.crossEntropy(logits, [3, 7]);
    loss.backward();
    return ops.pgdStep(x.detach(), x.grad, { x0: x.detach(), eps: 0.03, alpha: 0.01, norm: 'linf' });
  };
  for (let i = 0; i < 3000; i++) step();
  const before = rss();
  for (let i = 0; i < 20000; i++) step();
  const after = rss();
  const grownMiB = (after - before) / 2 ** 20;
  t.log(
    `RSS after 3,000 iterations ${(before / 2 ** 20).toFixed(1)} MiB, after 23,000 ${(after / 2 ** 20).toFixed(1)} MiB`,
  );
  t.true(grownMiB < 40, `RSS grew by ${grownMiB.toFixed(1)} MiB over 20,000 iterations`);
});
