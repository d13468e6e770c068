// ViT position-embedding interpolation against PyTorch: bicubicResize against F.interpolate(mode='bicubic',
// align_corners=False) and the pos_embed resampling against timm's resample_abs_pos_embed, on the fixed
// inputs of test/fixtures/interpolate/bicubic.json (written by make_interpolate_fixtures.py); then a
// checkpoint saved at one image size loaded at another.
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const lk = require('..');
const { bicubicResize } = require('../lib/nn/interpolate');
const { resamplePosEmbed } = require('../lib/models/vit');

const FIX = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'interpolate', 'bicubic.json'), 'utf8'));

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const c of FIX.cases) {
  test(`bicubicResize matches PyTorch: ${c.name}`, (t) => {
    const out = bicubicResize(Float32Array.from(c.x), c.shape, c.size);
    t.is(out.length, c.shape[0] * c.size[0] * c.size[1]);
    t.true(maxAbsDiff(out, c.y) < 2e-6, `max |diff| ${maxAbsDiff(out, c.y)}`);
  });
}

test('bicubicResize: the same size is the identity, bit for bit', (t) => {
  const x = Float32Array.from({ length: 2 * 5 * 3 }, (_, i) => Math.sin(i * 1.7) * 3);
  t.deepEqual(bicubicResize(x, [2, 5, 3], [5, 3]), x);
});

test('bicubicResize refuses bad shapes, naming the argument', (t) => {
  t.throws(() => bicubicResize(new Float32Array(8), [2, 2, 2], [0, 3]), { message: /h must be a positive integer/ });
  t.throws(() => bicubicResize(new Float32Array(7), [2, 2, 2], [3, 3]), {
    message: /data has 7 values, expected C\*H\*W = 8/,
  });
});

test('resamplePosEmbed matches timm resample_abs_pos_embed (class token kept)', (t) => {
  const p = FIX.pos_embed;
  const out = resamplePosEmbed({ shape: p.shape, data: Float32Array.from(p.x) }, p.oldGrid, p.newGrid);
  t.deepEqual(out.shape, [1, 1 + p.newGrid[0] * p.newGrid[1], p.shape[2]]);
  t.deepEqual(Array.from(out.data.subarray(0, p.shape[2])), Array.from(Float32Array.from(p.x).subarray(0, p.shape[2])));
  t.true(maxAbsDiff(out.data, p.y) < 2e-6, `max |diff| ${maxAbsDiff(out.data, p.y)}`);
  t.throws(() => resamplePosEmbed({ shape: [1, 10, 3], data: new Float32Array(30) }, [4, 4], [6, 6]), {
    message: /pos_embed must be \[1, 1 \+ 4\*4, D\]/,
  });
});

// A checkpoint whose pos_embed is the fixture's (a 4x4 grid of patch 8: a 32x32 model) loads into a 48x48 model.
const CONFIG = { imageSize: 32, patchSize: 8, embedDim: 3, depth: 1, numHeads: 1, numClasses: 4 };

function checkpointAt32() {
  const model = lk.createModel('vit_ti16', CONFIG);
  model.stateDict().get('pos_embed').data.set(Float32Array.from(FIX.pos_embed.x));
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-vitpos-')), 'vit32.safetensors');
  lk.saveWeights(model, file);
  return { model, file };
}

test('loadModel at another imageSize resamples pos_embed as timm does; forward runs at the new size', (t) => {
  const { model: small, file } = checkpointAt32();
  const { model, report } = lk.loadModel('vit_ti16', file, { imageSize: 48 });
  t.deepEqual(report, { missing: [], unexpected: [], mismatched: [] });
  const pos = model.stateDict().get('pos_embed');
  t.deepEqual(pos.shape, [1, 37, 3]);
  t.true(maxAbsDiff(pos.data, FIX.pos_embed.y) < 2e-6);
  // Every other weight is the checkpoint's.
  t.deepEqual(
    Array.from(model.stateDict().get('head.weight').data),
    Array.from(small.stateDict().get('head.weight').data),
  );
  const logits = lk.noGrad(() =>
    model.forward(new lk.Tensor(new Float32Array(2 * 3 * 48 * 48).fill(0.5), [2, 3, 48, 48])),
  );
  t.deepEqual(logits.shape, [2, 4]);
  // The same size loads unchanged, bit for bit.
  const same = lk.loadModel('vit_ti16', file).model;
  t.deepEqual(Array.from(same.stateDict().get('pos_embed').data), Array.from(Float32Array.from(FIX.pos_embed.x)));
});

test('createModel({ imageSize }) + loadStateDict of a smaller checkpoint resamples; a non-square grid still fails strictly', (t) => {
  const { model: small } = checkpointAt32();
  const big = lk.createModel('vit_ti16', { ...CONFIG, imageSize: 48 });
  const state = new Map([...small.stateDict()].map(([k, v]) => [k, { shape: v.shape, data: v.data }]));
  big.loadStateDict(state);
  t.true(maxAbsDiff(big.stateDict().get('pos_embed').data, FIX.pos_embed.y) < 2e-6);
  state.set('pos_embed', { shape: [1, 13, 3], data: new Float32Array(39) }); // 12 patches: no square grid
  const e = t.throws(() => big.loadStateDict(state), { name: 'StateDictError' });
  t.regex(e.message, /pos_embed/);
});
