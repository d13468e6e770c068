// Checkpoints that remember their model: saveWeights stores the model's name and options
// (lkvit.model, lkvit.config), loadModel and the CLI rebuild it from them, metadata from a file is
// checked like a user's --config, and a mismatch names the model and --config the weights fit.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const lk = require('..');
const { fittingModel, inferArchitecture } = require('../lib/models/infer');
const { runCli: run } = require('./cli_run');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-ckmeta-'));
const file = (name) => path.join(tmp, name);
// A small ConvNeXt with a non-default kernel, class count and normalisation.
const SMALL = {
  depths: [1, 1, 1, 1],
  dims: [8, 8, 16, 16],
  kernelSize: 13,
  numClasses: 5,
  mean: [0.25, 0.5, 0.75],
  std: [0.5, 0.5, 0.5],
};

function small() {
  lk.manualSeed(3);
  return lk.createModel('convnext_tiny', SMALL);
}

const input = () =>
  lk.tensor(
    Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => ((i * 7919) % 256) / 255),
    [2, 3, 32, 32],
  );

test('saveWeights records the name and every option; loadModel(path) rebuilds the same model', (t) => {
  const model = small();
  t.is(model.modelName, 'convnext_tiny');
  lk.saveWeights(model, file('small.safetensors'));
  const { metadata } = lk.readSafetensors(file('small.safetensors'));
  t.is(metadata['lkvit.model'], 'convnext_tiny');
  // The options given, the rest from the published ConvNeXt-T configuration (timm: 7x7 kernels).
  t.deepEqual(JSON.parse(metadata['lkvit.config']), { ...SMALL });
  const { model: back, report } = lk.loadModel(file('small.safetensors'));
  t.deepEqual(report, { missing: [], unexpected: [], mismatched: [] });
  t.is(back.modelName, 'convnext_tiny');
  t.deepEqual(back.mean, SMALL.mean);
  t.is(back.numClasses, 5);
  const x = input();
  t.deepEqual(lk.noGrad(() => back.forward(x)).data, lk.noGrad(() => model.forward(x)).data);
  // A later setNormalization is what gets saved.
  model.setNormalization([0.1, 0.2, 0.3], [0.4, 0.5, 0.6]);
  lk.saveWeights(model, file('renorm.safetensors'));
  t.deepEqual(lk.loadModel(file('renorm.safetensors')).model.std, [0.4, 0.5, 0.6]);
  // Options given to loadModel override the recorded ones.
  t.deepEqual(lk.loadModel('convnext_tiny', file('small.safetensors'), { mean: [0, 0, 0] }).model.mean, [0, 0, 0]);
  // A file without the record needs a name.
  const bare = file('bare.safetensors');
  lk.writeSafetensors(bare, new Map([...model.stateDict()].map(([k, v]) => [k, { shape: v.shape, data: v.data }])));
  t.throws(() => lk.loadModel(bare), { message: /does not record its model .*loadModel\(NAME, path\)/ });
  t.is(
    lk.loadModel('convnext_tiny', bare, { depths: [1, 1, 1, 1], dims: [8, 8, 16, 16], kernelSize: 13 }).model
      .numClasses,
    5,
  );
});

test('metadata from a file is checked like --config: unknown names, bad JSON, out-of-bounds sizes are refused before building', (t) => {
  const model = small();
  const tensors = new Map([...model.stateDict()].map(([k, v]) => [k, { shape: v.shape, data: v.data }]));
  const cases = [
    [{ 'lkvit.model': 'vit_b99' }, /names model "vit_b99", not one of replknet31b/],
    [{ 'lkvit.model': '__proto__' }, /names model "__proto__", not one of/],
    [{ 'lkvit.model': 'convnext_tiny', 'lkvit.config': '{"depths":' }, /unreadable lkvit.config \(not JSON\)/],
    [{ 'lkvit.model': 'convnext_tiny', 'lkvit.config': '[1, 2]' }, /lkvit.config that is not a JSON object/],
    [
      { 'lkvit.model': 'convnext_tiny', 'lkvit.config': '{"evil":1}' },
      /refused: unknown option\(s\) evil for convnext_tiny/,
    ],
    [
      { 'lkvit.model': 'convnext_tiny', 'lkvit.config': '{"depths":[1000000000,1,1,1]}' },
      /refused: depths must hold numbers in \[0, 1048576\]/,
    ],
    [
      { 'lkvit.model': 'convnext_tiny', 'lkvit.config': '{"dims":[65536,65536,65536,65536]}' },
      /refused: this convnext_tiny configuration has about .* parameters, more than/,
    ],
    [
      { 'lkvit.model': 'convnext_tiny', 'lkvit.config': '{"std":[0,0,0]}' },
      /refused: std must be 3 numbers in \[0.000001, 1000000\]/,
    ],
  ];
  for (const [metadata, message] of cases) {
    const f = file('hostile.safetensors');
    lk.writeSafetensors(f, tensors, metadata);
    const started = Date.now();
    const e = t.throws(() => lk.loadModel(f), { message }, JSON.stringify(metadata));
    t.is(e.name, 'CheckpointError');
    t.true(Date.now() - started < 2000);
  }
});

test('a weights/architecture mismatch names the model and --config that fit, --non-strict, and only a few keys', (t) => {
  lk.saveWeights(small(), file('k13.safetensors'));
  const e = t.throws(() => lk.loadModel('convnext_tiny', file('k13.safetensors'), { kernelSize: 7 }));
  t.is(e.name, 'StateDictError');
  const lines = e.message.split('\n');
  t.regex(
    lines[0],
    /does not fit convnext_tiny \{"depths":\[1,1,1,1\],"dims":\[8,8,16,16\],"kernelSize":7\} \(0 missing, 0 unexpected, 4 mismatched keys\)/,
  );
  t.regex(
    lines[0],
    /look like --model convnext_tiny --config '\{"depths":\[1,1,1,1\],"dims":\[8,8,16,16\],"kernelSize":13\}'/,
  );
  t.regex(lines[0], /--non-strict/);
  t.is(lines.length, 2);
  t.regex(
    lines[1],
    /^ {2}mismatched: stages\.0\.blocks\.0\.conv_dw\.weight \[8, 1, 7, 7\] in the model, \[8, 1, 13, 13\] in the file, .* \(and 1 more\)$/,
  );
  t.is(e.report.mismatched.length, 4);
  // A different model name: the file's options are not applied to it, and the hint names the right one.
  const r = t.throws(() => lk.loadModel('resnet50', file('k13.safetensors')));
  t.regex(r.message, /does not fit resnet50 \(the file records model convnext_tiny: leave the name out to use it\)/);
  t.regex(r.message, /look like --model convnext_tiny --config/);
  t.true(r.message.length < 1500, `${r.message.length} characters`);
});

test("fittingModel reads each family's options back from the shapes", (t) => {
  const cases = [
    ['replknet31b', { channels: [8, 16, 24, 32], layers: [1, 1, 2, 1], kernelSizes: [7, 7, 7, 5] }],
    ['replknetxl', { channels: [8, 16, 24, 32], layers: [1, 1, 1, 1] }],
    ['vit_ti16', { embedDim: 32, depth: 2, numHeads: 2, imageSize: 32 }],
    ['resnet50', { layers: [1, 2, 1, 1], widths: [8, 8, 16, 16], stemWidth: 16 }],
    ['convnext_base', { depths: [1, 1, 2, 1], kernelSize: 31 }],
    ['bit_m_r101x3', { layers: [1, 1, 1, 1], outChannels: [16, 16, 16, 16], numGroups: 4, widthFactor: 1 }],
  ];
  for (const [name, options] of cases) {
    const state = new Map(
      [...lk.nn.withoutInit(() => lk.createModel(name, { ...options, numClasses: 7 })).stateDict()].map(([k, v]) => [
        k,
        { shape: v.shape, data: v.data },
      ]),
    );
    const arch = inferArchitecture(state);
    t.is(arch.config.numClasses, 7, name);
    if (name === 'bit_m_r101x3') continue; // widths and groups are not separable from the shapes: the family only
    const fit = fittingModel(state, lk.MODELS);
    const expected = { ...options };
    delete expected.numHeads; // in no shape
    delete expected.imageSize; // loadModel reads it from pos_embed
    // The name whose published configuration needs the fewest overrides (convnext_base, not -small,
    // whose dims differ), and exactly the options that differ from it.
    t.is(fit.name, name);
    t.deepEqual(fit.config, expected, name);
  }
});

test('the CLI reads the model from the weights: no --model or --config, and --config overrides one key', async (t) => {
  const model = small();
  lk.saveWeights(model, file('cli.safetensors'));
  const x = input();
  lk.writeSafetensors(file('x.safetensors'), { x: { shape: x.shape, data: x.data } });
  const ok = await run([
    'predict',
    '--weights',
    file('cli.safetensors'),
    '--input',
    file('x.safetensors'),
    '--out',
    file('o.safetensors'),
    '--quiet',
  ]);
  t.is(ok.code, 0, ok.err);
  const got = lk.readSafetensors(file('o.safetensors'));
  t.deepEqual(got.tensors.get('logits').data, lk.noGrad(() => model.forward(x)).data);
  t.is(got.metadata.model, 'convnext_tiny');
  const bad = await run([
    'predict',
    '--weights',
    file('cli.safetensors'),
    '--config',
    '{"kernelSize":7}',
    '--input',
    file('x.safetensors'),
    '--out',
    file('o.safetensors'),
  ]);
  t.is(bad.code, 1);
  t.regex(
    bad.err,
    /^lkvit: loadModel: .* does not fit convnext_tiny .*"kernelSize":7.*--config '\{.*"kernelSize":13\}'.*--non-strict/,
  );
  t.true(bad.err.trim().split('\n').length <= 4, bad.err);
  const typo = await run([
    'predict',
    '--weights',
    file('cli.safetensors'),
    '--config',
    '{"kernelSzie":7}',
    '--input',
    file('x.safetensors'),
    '--out',
    file('o.safetensors'),
  ]);
  t.is(typo.code, 2);
  t.regex(typo.err, /--config has unknown option\(s\) kernelSzie for convnext_tiny; .*\(did you mean kernelSize\?\)/);
});

test('training checkpoints record the model too, and refuse another model clearly', (t) => {
  const model = small();
  const opt = new lk.SGD(model, { lr: 0.1 });
  lk.saveCheckpoint(file('train.safetensors'), model, opt, { epoch: 1, info: {} });
  const { metadata } = lk.readSafetensors(file('train.safetensors'));
  t.is(metadata['lkvit.model'], 'convnext_tiny');
  t.deepEqual(JSON.parse(metadata['lkvit.config']).kernelSize, 13);
  t.throws(
    () => lk.loadCheckpoint(file('train.safetensors'), lk.createModel('convnext_small', { depths: [1, 1, 1, 1] })),
    { message: /holds a convnext_tiny model, this one is convnext_small/ },
  );
  const other = lk.createModel('convnext_tiny', { ...SMALL, kernelSize: 7 });
  const e = t.throws(() => lk.loadCheckpoint(file('train.safetensors'), other));
  t.regex(
    e.message,
    /does not fit this model \(it records convnext_tiny .*"kernelSize":13.*\): 0 missing, 0 unexpected, 4 mismatched keys\n {2}mismatched: /,
  );
  t.true(e.message.length < 1200);
});
