// The cases of the GPU benchmark (bench/gpu/bench.js and bench/gpu/torch_bench.py time the same
// list, written once as JSON by `node bench/gpu/bench.js cases`). Full size on a GPU; tiny shapes
// for the dry run under the SIMT emulation (run.sh --emulated), which judges the script, not speed.
'use strict';

// RepLKNet-31B's four stages at batch 64: channels, map side and the stage's large kernel.
const REPLKNET31B_STAGES = [
  [128, 56, 31],
  [256, 28, 29],
  [512, 14, 27],
  [1024, 7, 13],
];
const SWEEP_KERNELS = [3, 5, 7, 9, 13, 17, 21, 27, 31, 41, 51];
const DW_PASSES = ['fwd', 'fwd_bwd_input', 'fwd_bwd_all'];

// The tiny models of the dry run: the shapes of the model fixtures (test/fixtures/models).
const TINY = {
  replknet31b: {
    channels: [8, 16, 24, 32],
    dwRatio: 1,
    kernelSizes: [31, 29, 27, 13],
    layers: [1, 1, 2, 1],
    numClasses: 10,
    smallKernel: 5,
  },
  vit_b16: { depth: 2, embedDim: 32, imageSize: 32, mlpRatio: 4, numClasses: 10, numHeads: 2, patchSize: 16 },
};

function dwCase(N, C, H, K, tag) {
  return {
    id: `dw-${tag}-${N}x${C}x${H}-k${K}`,
    section: 'dwconv',
    kind: 'dwconv',
    N,
    C,
    H,
    W: H,
    K,
    padding: Math.floor(K / 2),
    passes: DW_PASSES,
  };
}

/** The case list: { mode, reps, sections: { dwconv, attention, models } }. */
function gpuCases({ emulated = false } = {}) {
  const dwconv = emulated
    ? [3, 31].map((K) => dwCase(1, 8, 16, K, 'sweep'))
    : [
        ...SWEEP_KERNELS.map((K) => dwCase(64, 256, 28, K, 'sweep')),
        ...REPLKNET31B_STAGES.map(([C, H, K]) => dwCase(64, C, H, K, 'stage')),
      ];
  const [B, Hh, T, d] = emulated ? [1, 2, 9, 8] : [64, 12, 197, 64];
  const attention = [
    {
      id: `attn-${B}x${Hh}x${T}x${d}`,
      section: 'attention',
      kind: 'attention',
      B,
      H: Hh,
      T,
      d,
      passes: ['fwd', 'fwd_bwd'],
    },
  ];
  const size = emulated ? 32 : 224;
  const model = (name, batch, pass) => ({
    id: `${name}-${pass}-b${batch}`,
    section: 'models',
    kind: 'model',
    name,
    config: emulated ? TINY[name] : {},
    batch,
    size,
    passes: [pass],
  });
  const models = [
    model('replknet31b', emulated ? 1 : 64, 'forward'),
    model('vit_b16', emulated ? 1 : 64, 'forward'),
    { ...model('replknet31b', emulated ? 1 : 32, 'pgd_step'), eps: 8 / 255, alpha: 2 / 255 },
  ];
  return { mode: emulated ? 'emulated' : 'gpu', reps: emulated ? 3 : 10, sections: { dwconv, attention, models } };
}

/** Every (case, pass) of a case list, in order: the rows of the tables. */
function rowsOf(cases) {
  return Object.values(cases.sections).flatMap((list) =>
    list.flatMap((c) => c.passes.map((pass) => ({ c, pass, key: `${c.id}/${pass}` }))),
  );
}

module.exports = { gpuCases, rowsOf, SWEEP_KERNELS, REPLKNET31B_STAGES };
