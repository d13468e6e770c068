// conv2d rows: every strategy over the blocked SGEMM (1x1 direct, im2col, patch rearrangement),
// grouped, strided, padded and dilated, threaded and not.
'use strict';
const R = require('../reference/conv');

function convRow(label, xShape, wShape, opts, withBias, extra = {}) {
  return {
    name: `conv2d ${label}: x ${JSON.stringify(xShape)} weight ${JSON.stringify(wShape)} ${JSON.stringify(opts)}${withBias ? ' + bias' : ''}`,
    make: (r) => ({ x: r.array(xShape), weight: r.array(wShape), ...(withBias ? { bias: r.array([wShape[0]]) } : {}) }),
    run: (lk, t) => lk.ops.conv2d(t.x, t.weight, { ...opts, ...(withBias ? { bias: t.bias } : {}) }),
    ref: (a) => R.conv2d(a.x, a.weight, a.bias, opts),
    refGrad: (a, g) => R.conv2dGrad(a.x, a.weight, a.bias, opts, g),
    grad: withBias ? ['x', 'weight', 'bias'] : ['x', 'weight'],
    isa: true,
    ...extra,
  };
}

module.exports = [
  // conv2d: 1x1 (direct GEMM on NCHW)
  convRow('1x1', [2, 8, 7, 9], [6, 8, 1, 1], {}, true),
  convRow('1x1 stride 2', [2, 6, 9, 9], [4, 6, 1, 1], { stride: 2 }, false),
  convRow('1x1 wide: two K blocks both ways', [2, 420, 5, 7], [390, 420, 1, 1], {}, true),
  // batch 1 (the threads share each GEMM; weight panels packed where they are used): 7x7 and
  // 14x14 maps are one N block, the input gradient packs W^T panels straight from W
  convRow('1x1 batch 1 at 7x7', [1, 150, 7, 7], [131, 150, 1, 1], {}, true),
  convRow('1x1 batch 1 at 14x14, two K blocks', [1, 400, 14, 14], [33, 400, 1, 1], {}, true),
  // 3x3 pad 1: N = 2 (one image per thread) and N = 1 (threads share each GEMM)
  convRow('3x3 pad 1', [2, 5, 9, 11], [7, 5, 3, 3], { padding: 1 }, true),
  convRow('3x3 pad 1 N=1', [1, 32, 12, 13], [16, 32, 3, 3], { padding: 1 }, false),
  convRow('3x3 pad 1, 480 pixels', [1, 4, 24, 20], [8, 4, 3, 3], { padding: 1 }, true), // several N and K blocks
  convRow('7x7 stride 2 pad 3', [2, 3, 15, 13], [5, 3, 7, 7], { stride: 2, padding: 3 }, true),
  convRow('3x3 stride 2 wide rows', [1, 2, 7, 45], [3, 2, 3, 3], { stride: 2, padding: 1 }, true), // vector stride-2 gather
  // patch embedding (K == stride, no padding), also with leftover rows/columns no patch covers
  convRow('16x16 stride 16', [2, 3, 32, 48], [8, 3, 16, 16], { stride: 16 }, true),
  convRow('16x16 stride 16 ragged', [1, 3, 35, 33], [6, 3, 16, 16], { stride: 16 }, false),
  convRow('4x2 stride [4, 2]', [2, 4, 9, 7], [6, 2, 4, 2], { stride: [4, 2], groups: 2 }, true),
  // grouped
  convRow('groups 2', [2, 8, 9, 7], [6, 4, 3, 3], { padding: 1, groups: 2 }, true),
  convRow('groups 4 stride 2', [1, 8, 6, 6], [8, 2, 3, 3], { stride: 2, padding: 1, groups: 4 }, false),
  convRow('groups 4 1x1', [2, 8, 5, 5], [12, 2, 1, 1], { groups: 4 }, true),
  // padding 0 and padding larger than K // 2 (also larger than K), asymmetric
  convRow('3x3 pad 0', [2, 3, 8, 7], [4, 3, 3, 3], {}, true),
  convRow('3x3 pad [3, 2]', [2, 3, 6, 5], [4, 3, 3, 3], { padding: [3, 2] }, true),
  convRow('5x3 stride [2, 3] pad [2, 1]', [2, 3, 11, 10], [4, 3, 5, 3], { stride: [2, 3], padding: [2, 1] }, false),
  convRow('3x3 dilation 2', [1, 3, 11, 10], [4, 3, 3, 3], { dilation: 2, padding: 2 }, true),
  // tiny rows whose reference gradient is checked by finite differences
  convRow('fd 3x3 stride 2', [1, 2, 5, 4], [3, 2, 3, 3], { stride: 2, padding: 1 }, true, { fd: true }),
  convRow('fd groups 2', [1, 4, 3, 3], [2, 2, 2, 2], { groups: 2 }, true, { fd: true }),
  convRow('fd patch', [1, 2, 4, 4], [3, 2, 2, 2], { stride: 2 }, true, { fd: true }),
];
